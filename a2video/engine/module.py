"""The Lightning module: the network, its training step and multi-view validation and testing.

The optimiser and schedule are :mod:`a2video.engine.optim`'s, the checkpoint lifecycle
:mod:`a2video.engine.checkpoints`' and the test files :mod:`a2video.engine.evaluate`'s.

Multi-GPU/multi-node DDP, mixed precision, gradient clipping and SyncBatchNorm are Lightning
Trainer flags (``strategy``, ``devices``, ``num_nodes``, ``precision``, ``gradient_clip_val``,
``sync_batchnorm``); nothing here re-implements them.
"""

from __future__ import annotations

from typing import Any, Literal

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from pytorch_lightning.utilities import rank_zero_warn
from torchmetrics import MeanMetric

from a2video.engine import optim
from a2video.engine.checkpoints import check_same_network
from a2video.engine.evaluate import TestOutputs, evaluation_dir, write_test_results
from a2video.engine.precision import EvalPrecision, eval_autocast
from a2video.errors import A2VideoError, WeightsError
from a2video.evaluation.metrics import label_ranks, to_numpy
from a2video.models import create_model
from a2video.models.forward import forward_in_chunks
from a2video.models.preprocessing import IMAGENET, Preprocessing
from a2video.models.weights import load_initial_weights, saved_preprocessing


class VideoClassifier(pl.LightningModule):
    """Train, validate and test a video classifier from :func:`a2video.models.create_model`.

    Args:
        model: registered model name (``a2video flops --list`` shows them).
        num_classes: classifier outputs; taken from the data module's classes file when None.
        base_width: model width (64 = the real ResNet; smaller for toy runs).
        dropout: dropout before the classifier.
        pretrained: 2D ImageNet weights to inflate: "imagenet" or a path to a ResNet state dict.
        init_from: weights to start from, e.g. a Kinetics model for UCF-101 fine-tuning: a checkpoint
            of this toolkit (``.ckpt``), a plain 3D state dict, a PySlowFast / pytorchvideo /
            mmaction2 file, or a known public checkpoint (``pytorchvideo:i3d_r50_k400``, see
            ``a2video convert --list``); its classifier is replaced when the number of classes
            differs (or always, with ``replace_classifier``). Its preprocessing (mean/std) is used.
        replace_classifier: start the classifier from scratch even if the shapes would fit.
        model_kwargs: further builder arguments (``attention_placement``, ``reduction``, ...).
        lr: learning rate for ``reference_batch_size`` clips; scaled linearly with the global batch.
        reference_batch_size: the batch ``lr`` is quoted for (64 in the Kinetics recipes).
        momentum: SGD momentum.
        nesterov: Nesterov momentum.
        weight_decay: L2 penalty on weights; norm parameters and biases get none.
        backbone_lr_mult: learning rate of everything but the classifier, as a multiple of ``lr``
            (0.2 is the usual fine-tuning setting; 1.0 trains all at the same rate).
        schedule: "cosine" (to ``min_lr_ratio`` of the peak) or "step" (× ``step_gamma`` at
            ``step_epochs``), both after a linear warm-up.
        warmup_epochs: epochs of linear warm-up from ``warmup_start_ratio`` of the peak.
        warmup_start_ratio: warm-up starting point as a fraction of the peak rate.
        min_lr_ratio: cosine floor as a fraction of the peak rate.
        step_epochs: epochs at which the step schedule multiplies the rate by ``step_gamma``.
        step_gamma: step schedule factor.
        label_smoothing: cross-entropy label smoothing.
        freeze_bn_stats: keep BatchNorm running statistics fixed during training (small fine-tuning
            sets); the affine parameters still train.
        aggregate: how test views are combined per video: mean of "softmax" or mean of "logits".
        eval_dir: where ``test`` writes metrics.json, predictions.csv, view_logits.npz and
            confusion.png; defaults to ``<run folder>/test``.
        test_report: ``test`` also writes ``report.html`` and the analysis files (per-class
            accuracy, views curve, calibration, confusions; :mod:`a2video.evaluation.report`).
        view_chunk: at most this many views go through the model at once during evaluation
            (bounds memory for 30-view testing).
        eval_precision: precision of validation and test forwards: "32-true" (fp32, as the
            reference toolkits test), "bf16-mixed", "16-mixed", or "train" (``trainer.precision``).
        test_head: "global_pool", or "fully_conv": views larger than the training clip are
            classified at every training-clip-sized window, softmax averaged (PySlowFast's test).
            Changes no weight, so it can differ between ``fit`` and ``test``.
        train_clip: (frames, height, width) of the training clips, the fully convolutional window;
            the command line sets it from ``data.num_frames`` and ``data.crop_size``.
        channels_last: keep the network's weights (and so its activations) in the
            ``channels_last_3d`` memory format; faster training steps on a CPU (measured in
            docs/DEMO.md).
        compile: ``torch.compile`` the network in place (parameter names unchanged, so checkpoints
            stay interchangeable with eager runs); the first steps pay for the compilation.
    """

    def __init__(
        self,
        model: str = "a2net_r50",
        num_classes: int | None = None,
        base_width: int = 64,
        dropout: float = 0.5,
        pretrained: str | None = None,
        init_from: str | None = None,
        replace_classifier: bool = False,
        model_kwargs: dict[str, Any] | None = None,
        lr: float = 0.01,
        reference_batch_size: int = 64,
        momentum: float = 0.9,
        nesterov: bool = False,
        weight_decay: float = 1e-4,
        backbone_lr_mult: float = 1.0,
        schedule: Literal["cosine", "step"] = "cosine",
        warmup_epochs: float = 0.0,
        warmup_start_ratio: float = 0.1,
        min_lr_ratio: float = 0.0,
        step_epochs: list[int] | None = None,
        step_gamma: float = 0.1,
        label_smoothing: float = 0.0,
        freeze_bn_stats: bool = False,
        aggregate: Literal["softmax", "logits"] = "softmax",
        eval_dir: str | None = None,
        test_report: bool = True,
        view_chunk: int = 32,
        eval_precision: EvalPrecision = "32-true",
        test_head: Literal["global_pool", "fully_conv"] = "global_pool",
        train_clip: tuple[int, int, int] | None = None,
        channels_last: bool = False,
        compile: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net: nn.Module | None = None
        self._initial_weights_pending = False
        self._test_outputs = TestOutputs()
        # Validation means weighted by views over all ranks (Lightning's sync_dist would average the
        # ranks' means, which is off when the ranks hold different numbers of videos).
        self.val_means = nn.ModuleDict({name: MeanMetric() for name in ("clip_top1", "clip_top5", "loss")})
        self.test_metrics: dict[str, Any] | None = None
        # What the weights expect (mean/std/value range, clip settings): from pretrained/init_from or
        # a restored checkpoint; None = ImageNet. Saved in every checkpoint (on_save_checkpoint).
        self.preprocessing: Preprocessing | None = None

    # ----------------------------------------------------------------- model
    def build(self, num_classes: int, load_initial_weights: bool = True) -> None:
        """Create the network; ``load_initial_weights`` applies ``pretrained`` and ``init_from``."""
        hp = self.hparams
        hp.num_classes = num_classes
        head = {}
        if hp.test_head == "fully_conv":
            if hp.train_clip is None:
                raise A2VideoError("model.test_head fully_conv needs model.train_clip (frames, height, width)")
            head["fully_conv_clip"] = tuple(hp.train_clip)
        self.net = create_model(hp.model, num_classes=num_classes, base_width=hp.base_width, dropout=hp.dropout,
                                **(hp.model_kwargs or {}), **head)
        if hp.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last_3d)
        if hp.compile:
            self.net.compile()  # in place: the state_dict keys get no "_orig_mod." prefix
        self._initial_weights_pending = False
        if load_initial_weights:
            self.load_initial_weights()

    def load_initial_weights(self) -> None:
        """Inflate ``pretrained`` ImageNet weights, then load ``init_from``, into the network."""
        hp = self.hparams
        try:
            reports = load_initial_weights(self.net, pretrained=hp.pretrained, init_from=hp.init_from,
                                           replace_classifier=hp.replace_classifier)
        except WeightsError as error:
            raise WeightsError(f"model.{error}") from None
        for report in reports:  # init_from, loaded last, decides
            self.preprocessing = report.preprocessing or self.preprocessing

    def configure_model(self) -> None:
        """Lightning hook: build the network once the number of classes is known.

        The initial weights (``pretrained``, ``init_from``) wait for the first ``on_*_start`` hook:
        Lightning restores a checkpoint (resume, ``test --ckpt_path``) only after this hook, and
        then its weights replace them, so their files are neither read nor needed any more.
        """
        if self.net is not None:
            return
        trainer = self._trainer  # None inside load_from_checkpoint, which calls this hook too
        num_classes = self.hparams.num_classes
        if num_classes is None:
            num_classes = getattr(getattr(trainer, "datamodule", None), "num_classes", None)
        if num_classes is None:
            raise A2VideoError("model.num_classes is not set and no data module provides it")
        self.build(num_classes, load_initial_weights=False)
        self._initial_weights_pending = trainer is not None

    def _apply_initial_weights(self) -> None:
        if getattr(self, "_initial_weights_pending", False):
            self._initial_weights_pending = False
            self.load_initial_weights()
        self._use_preprocessing()

    def _use_preprocessing(self) -> None:
        """Give the data module the weights' normalisation; warn where its clip settings differ."""
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        if datamodule is None or not hasattr(datamodule, "preprocessing"):
            return
        expected = self.preprocessing or IMAGENET
        datamodule.preprocessing = expected
        if not expected.clip_known or getattr(self, "_clip_settings_checked", False):
            return  # 2D ImageNet weights say nothing about clips; and one warning per run is enough
        self._clip_settings_checked = True
        for key, config_value in clip_settings(datamodule).items():
            if getattr(expected, key) != config_value:
                rank_zero_warn(f"the weights expect {key}={getattr(expected, key)} ({expected.source}); the data "
                               f"config's data.{key}={config_value} wins (it makes the clips); their mean/std are "
                               "the weights'")

    def on_fit_start(self) -> None:
        self._apply_initial_weights()

    def on_validation_start(self) -> None:
        self._apply_initial_weights()

    def on_test_start(self) -> None:
        self._apply_initial_weights()

    def on_predict_start(self) -> None:
        self._apply_initial_weights()

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.net(clips)

    def train(self, mode: bool = True) -> "VideoClassifier":
        super().train(mode)
        if mode and self.hparams.freeze_bn_stats:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    # -------------------------------------------------------------- training
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        clips, labels = batch["video"], batch["label"]  # (N, C, T, H, W), (N,)
        logits = self(clips)
        loss = F.cross_entropy(logits, labels, label_smoothing=self.hparams.label_smoothing)
        acc = (logits.argmax(1) == labels).float().mean()
        n = labels.shape[0]
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        self.log("train/top1", acc * 100, prog_bar=True, batch_size=n)
        if "num_failed" in batch:  # videos that could not be decoded and were replaced in this batch
            failed = batch["num_failed"].sum().float()
            self.log("train/failed_videos", failed, reduce_fx="sum", on_step=False, on_epoch=True, batch_size=n,
                     sync_dist=True)  # summed over ranks
        return loss

    def _view_logits(self, videos: torch.Tensor) -> torch.Tensor:
        """(N, V, C, T, H, W) → (N, V, K), at most ``view_chunk`` views per forward pass."""
        n, v = videos.shape[:2]
        flat = videos.flatten(0, 1)  # (N·V, C, T, H, W)
        # A StopIteration escaping a step would end Lightning's loop silently: default for a
        # network without parameters.
        weights_dtype = next((p.dtype for p in self.net.parameters()), torch.float32)
        precision = eval_autocast(self.hparams.eval_precision, device_type=self.device.type, weights_dtype=weights_dtype)
        with precision:
            logits = forward_in_chunks(self, flat, self.hparams.view_chunk)  # (N·V, K)
        return logits.view(n, v, -1).float()

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits = self._view_logits(batch["video"])  # (N, V, K)
        labels, ok = batch["label"], batch["ok"]
        n, v, _ = logits.shape
        # The test files' rank rule (ties go to the lower class), so val and test agree on top-k.
        ranks = torch.from_numpy(label_ranks(to_numpy(logits), to_numpy(labels)[:, None])).to(ok.device)  # (N, V)
        hit1 = (ranks < 1) & ok[:, None]  # failed videos count as wrong
        hit5 = (ranks < 5) & ok[:, None]
        # Updated on every step, with weight 0 when no video of the batch decoded: under DDP every
        # rank must log the same keys, or the end-of-epoch reduction waits for a rank that never comes.
        ok_views = int(ok.sum()) * v
        loss = F.cross_entropy(logits[ok].flatten(0, 1), labels[ok].repeat_interleave(v)) if ok_views else logits.new_zeros(())
        self.val_means["clip_top1"].update(hit1.float().mean() * 100, weight=n * v)
        self.val_means["clip_top5"].update(hit5.float().mean() * 100, weight=n * v)
        self.val_means["loss"].update(loss.detach(), weight=ok_views)
        for name, mean in self.val_means.items():
            self.log(f"val/{name}", mean, prog_bar=name == "clip_top1", on_step=False, on_epoch=True)

    # ------------------------------------------------------------------ test
    def on_test_epoch_start(self) -> None:
        loaders = self.trainer.test_dataloaders
        loaders = loaders if isinstance(loaders, (list, tuple)) else [loaders]
        try:  # this process's share of the list: the logits array is allocated once
            capacity = sum(len(loader.sampler) for loader in loaders)
        except (AttributeError, TypeError):
            capacity = None
        self._test_outputs = TestOutputs(capacity)

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits = self._view_logits(batch["video"])  # (N, V, K)
        self._test_outputs.add(index=batch["index"], label=batch["label"], ok=batch["ok"],
                               error=batch.get("error"), logits=logits)

    def on_test_epoch_end(self) -> None:
        trainer = self.trainer
        outputs, self._test_outputs = self._test_outputs.gather(trainer), TestOutputs()
        out_dir = evaluation_dir(trainer, self.hparams.eval_dir)  # every rank: trainer.log_dir is a collective
        if not trainer.is_global_zero:
            return
        datamodule = trainer.datamodule
        self.test_metrics = write_test_results(
            outputs, out_dir, samples=datamodule.eval_samples("test"), class_names=list(datamodule.class_names),
            aggregate=self.hparams.aggregate, views=datamodule.views["test"], report=self.hparams.test_report,
            video_root=datamodule.video_root, partial=trainer.limit_test_batches not in (1.0, None))
        for key in ("clip_top1", "clip_top5", "video_top1", "video_top5", "mean_class_accuracy"):
            self.log(f"test/{key}", float(self.test_metrics[key]), rank_zero_only=True)

    # ------------------------------------------------------------ optimiser
    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        datamodule = getattr(self.trainer, "datamodule", None)
        per_device = getattr(datamodule, "batch_size", None) or hp.reference_batch_size
        base_lr = optim.scaled_lr(hp.lr, reference_batch_size=hp.reference_batch_size,
                                  global_batch_size=optim.global_batch_size(self.trainer, per_device))
        groups = optim.parameter_groups(
            self.named_parameters(), {f"net.{name}" for name in self.net.classifier_parameter_names()},
            base_lr=base_lr, backbone_lr_mult=hp.backbone_lr_mult, weight_decay=hp.weight_decay)
        steps_per_epoch, total = optim.training_length(self.trainer)
        schedule = optim.make_schedule(
            total_steps=total, steps_per_epoch=steps_per_epoch, schedule=hp.schedule,
            warmup_steps=int(round(hp.warmup_epochs * steps_per_epoch)), warmup_start_ratio=hp.warmup_start_ratio,
            min_lr_ratio=hp.min_lr_ratio, step_epochs=hp.step_epochs or [], step_gamma=hp.step_gamma,
        )
        return optim.sgd_with_schedule(groups, base_lr=base_lr, momentum=hp.momentum, nesterov=hp.nesterov,
                                       schedule=schedule)

    # ------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Save what ``predict``/``export`` need besides the weights: preprocessing, the clip spec
        (protocol, ``target_fps``, placement, views: so they sample as ``test``) and class names."""
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        preprocessing = self.preprocessing or IMAGENET
        names = clip = None
        if datamodule is not None and hasattr(datamodule, "class_names"):
            preprocessing = preprocessing.with_clip(**clip_settings(datamodule))  # what the run actually used
            names = list(datamodule.class_names)
            clip = datamodule.clip.to_dict()
        checkpoint["a2video"] = {"preprocessing": preprocessing.to_dict(), "class_names": names, "clip": clip}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.net is None:  # restoring before configure_model (e.g. load_from_checkpoint)
            self.build(checkpoint["hyper_parameters"]["num_classes"], load_initial_weights=False)
        else:
            check_same_network(self.hparams, checkpoint.get("hyper_parameters") or {})
        self._initial_weights_pending = False  # the checkpoint's weights replace them
        self.preprocessing = saved_preprocessing(checkpoint) or self.preprocessing


def clip_settings(datamodule: Any) -> dict[str, int]:
    """The data config's clip settings, under :class:`Preprocessing`'s names."""
    clip = datamodule.clip
    return {"num_frames": clip.num_frames, "sampling_rate": clip.sampling_rate, "crop_size": clip.crop_size,
            "test_short_side": clip.test_short_side, "test_crop_size": clip.eval_crop_size}
