"""The Lightning module: model, loss, optimiser and schedule, multi-view validation and testing.

Multi-GPU/multi-node DDP, mixed precision, gradient clipping and SyncBatchNorm are Lightning
Trainer flags (``strategy``, ``devices``, ``num_nodes``, ``precision``, ``gradient_clip_val``,
``sync_batchnorm``); nothing here re-implements them.
"""

from __future__ import annotations

import logging
import math
import os
import random
from typing import Any, Literal

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.utilities.model_helpers import is_overridden
from torch import nn
from torchmetrics import MeanMetric

from a2video.engine.finetune import load_backbone_weights
from a2video.errors import A2VideoError
from a2video.models import create_model

log = logging.getLogger(__name__)


class VideoClassifier(pl.LightningModule):
    """Train, validate and test a video classifier from :func:`a2video.models.create_model`.

    Args:
        model: registered model name (``a2video flops --list`` shows them).
        num_classes: classifier outputs; taken from the data module's classes file when None.
        base_width: model width (64 = the real ResNet; smaller for toy runs).
        dropout: dropout before the classifier.
        pretrained: 2D ImageNet weights to inflate: "imagenet" or a path to a ResNet state dict.
        init_from: a checkpoint of this toolkit (``.ckpt``) or a plain 3D state dict to start from,
            e.g. a Kinetics model for UCF-101 fine-tuning; its classifier is replaced when the
            number of classes differs (or always, with ``replace_classifier``).
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
        view_chunk: at most this many views go through the model at once during evaluation
            (bounds memory for 30-view testing).
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
        view_chunk: int = 32,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net: nn.Module | None = None
        self._initial_weights_pending = False
        self._rng_to_restore: dict | None = None
        self._test_outputs: list[dict] = []
        # Validation means weighted by views over all ranks (Lightning's sync_dist would average the
        # ranks' means, which is off when the ranks hold different numbers of videos).
        self.val_means = nn.ModuleDict({name: MeanMetric() for name in ("clip_top1", "clip_top5", "loss")})
        self.test_metrics: dict[str, Any] | None = None

    # ----------------------------------------------------------------- model
    def build(self, num_classes: int, load_initial_weights: bool = True) -> None:
        """Create the network; ``load_initial_weights`` applies ``pretrained`` and ``init_from``."""
        hp = self.hparams
        hp.num_classes = num_classes
        self.net = create_model(hp.model, num_classes=num_classes, base_width=hp.base_width, dropout=hp.dropout,
                                **(hp.model_kwargs or {}))
        self._initial_weights_pending = False
        if load_initial_weights:
            self.load_initial_weights()

    def load_initial_weights(self) -> None:
        """Inflate ``pretrained`` ImageNet weights, then load ``init_from``, into the network."""
        hp = self.hparams
        if hp.pretrained:
            from a2video.models.inflate import inflate_pretrained

            try:
                inflate_pretrained(self.net, hp.pretrained, arch=getattr(self.net, "imagenet_arch", "resnet50"))
            except A2VideoError as error:
                raise type(error)(f"model.pretrained: {error}") from None
        if hp.init_from:
            try:
                report = load_backbone_weights(self.net, hp.init_from, replace_classifier=hp.replace_classifier)
            except A2VideoError as error:
                raise type(error)(f"model.init_from: {error}") from None
            log.info("initialised from %s: %s", hp.init_from, report)

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

    def on_fit_start(self) -> None:
        self._apply_initial_weights()

    def on_validation_start(self) -> None:
        self._apply_initial_weights()

    def on_test_start(self) -> None:
        self._apply_initial_weights()

    def on_predict_start(self) -> None:
        self._apply_initial_weights()

    def setup(self, stage: str) -> None:
        if self.trainer.strategy.root_device.type == "cpu":
            workers = getattr(getattr(self.trainer, "datamodule", None), "num_workers", 0) or 0
            threads = cpu_threads(workers, processes=self.trainer.num_devices)
            if threads is not None:
                torch.set_num_threads(threads)
                log.info("CPU run: %d compute threads beside %d loader workers", threads, workers)

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
        chunk = max(1, self.hparams.view_chunk)
        logits = torch.cat([self(flat[i : i + chunk]) for i in range(0, flat.shape[0], chunk)])
        return logits.view(n, v, -1).float()

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits = self._view_logits(batch["video"])  # (N, V, K)
        labels, ok = batch["label"], batch["ok"]
        n, v, k = logits.shape
        top5 = logits.topk(min(5, k), dim=2).indices  # (N, V, 5)
        hit1 = (top5[:, :, 0] == labels[:, None]) & ok[:, None]  # failed videos count as wrong
        hit5 = (top5 == labels[:, None, None]).any(2) & ok[:, None]
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
        self._test_outputs = []

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits = self._view_logits(batch["video"])  # (N, V, K)
        errors = batch.get("error") or [""] * logits.shape[0]
        for i in range(logits.shape[0]):
            self._test_outputs.append({
                "index": int(batch["index"][i]), "label": int(batch["label"][i]), "ok": bool(batch["ok"][i]),
                "error": errors[i], "logits": logits[i].cpu().numpy(),
            })

    def on_test_epoch_end(self) -> None:
        outputs = self._test_outputs
        if self.trainer.world_size > 1:
            gathered: list[list[dict]] = [None] * self.trainer.world_size  # type: ignore[list-item]
            torch.distributed.all_gather_object(gathered, outputs)
            outputs = [row for part in gathered for row in part]
        self._test_outputs = []
        from a2video.engine.evaluate import evaluation_dir, write_test_results

        out_dir = evaluation_dir(self)  # on every rank: trainer.log_dir is a collective under DDP
        if not self.trainer.is_global_zero:
            return
        self.test_metrics = write_test_results(self, outputs, out_dir)
        for key in ("clip_top1", "clip_top5", "video_top1", "video_top5", "mean_class_accuracy"):
            self.log(f"test/{key}", float(self.test_metrics[key]), rank_zero_only=True)

    # ------------------------------------------------------------ optimiser
    def effective_lr(self) -> float:
        """``lr`` scaled by global batch / reference batch (the linear scaling rule)."""
        datamodule = getattr(self.trainer, "datamodule", None)
        per_device = getattr(datamodule, "batch_size", None) or self.hparams.reference_batch_size
        global_batch = per_device * self.trainer.world_size * self.trainer.accumulate_grad_batches
        return self.hparams.lr * global_batch / self.hparams.reference_batch_size

    def parameter_groups(self, base_lr: float) -> list[dict[str, Any]]:
        """Four groups: {backbone, classifier} × {decayed weights, norm/bias (no decay)}."""
        head_names = {f"net.{name}" for name in self.net.classifier_parameter_names()}
        groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
        for name, param in self.named_parameters():
            if not param.requires_grad:
                continue
            no_decay = param.ndim <= 1  # BatchNorm/LayerNorm scales and shifts, biases
            groups.setdefault((name in head_names, no_decay), []).append(param)
        result = []
        for (is_head, no_decay), params in sorted(groups.items()):
            mult = 1.0 if is_head else self.hparams.backbone_lr_mult
            result.append({
                "params": params, "lr": base_lr * mult, "initial_lr": base_lr * mult,
                "weight_decay": 0.0 if no_decay else self.hparams.weight_decay,
                "name": f"{'head' if is_head else 'backbone'}{'_no_decay' if no_decay else ''}",
            })
        return result

    def training_length(self) -> tuple[int, int]:
        """(optimiser steps per epoch, optimiser steps of the whole run).

        The run ends at ``max_epochs`` or ``max_steps``, whichever comes first (as
        ``Trainer.estimated_stepping_batches`` counts); an epoch is the train loader's batches
        (``limit_train_batches`` applied) over ``accumulate_grad_batches``, whatever ends the run,
        so ``warmup_epochs`` and ``step_epochs`` mean epochs also when ``max_steps`` is set.

        The batches are counted on a loader of the data module's own: asking the trainer
        (``estimated_stepping_batches``) would make the fit loop set up its training loader here,
        before a resumed run restores the loop state; the fit loop then keeps that loader and never
        applies the saved loader position, so a run resumed mid-epoch would repeat the batches the
        interrupted run had already trained on.
        """
        trainer = self.trainer
        datamodule = getattr(trainer, "datamodule", None)
        if trainer.train_dataloader is None and datamodule is not None and is_overridden("train_dataloader", datamodule):
            batches: float = len(datamodule.train_dataloader())
            limit = trainer.limit_train_batches
            if isinstance(limit, int):
                batches = min(batches, limit)
            elif limit != 1.0:
                batches = int(batches * limit)
        else:  # dataloaders given to trainer.fit: let Lightning set them up and count
            trainer.estimated_stepping_batches  # noqa: B018  (sets the loader up)
            batches = trainer.num_training_batches
        max_epochs, max_steps = trainer.max_epochs, trainer.max_steps
        if batches == float("inf") or max_epochs in (None, -1):
            if max_steps == -1:
                raise A2VideoError("set trainer.max_epochs or trainer.max_steps: the learning-rate schedule needs "
                                   "the length of the run")
            per_epoch = max_steps if batches == float("inf") else math.ceil(batches / trainer.accumulate_grad_batches)
            return max(1, per_epoch), max(1, max_steps)
        per_epoch = max(1, math.ceil(batches / trainer.accumulate_grad_batches))
        total = per_epoch * max(1, max_epochs)
        return per_epoch, max(1, min(total, max_steps) if max_steps != -1 else total)

    def configure_optimizers(self):
        hp = self.hparams
        base_lr = self.effective_lr()
        optimizer = torch.optim.SGD(self.parameter_groups(base_lr), lr=base_lr, momentum=hp.momentum,
                                    nesterov=hp.nesterov)
        steps_per_epoch, total = self.training_length()
        factor = make_schedule(
            total_steps=total, steps_per_epoch=steps_per_epoch, schedule=hp.schedule,
            warmup_steps=int(round(hp.warmup_epochs * steps_per_epoch)), warmup_start_ratio=hp.warmup_start_ratio,
            min_lr_ratio=hp.min_lr_ratio, step_epochs=hp.step_epochs or [], step_gamma=hp.step_gamma,
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # ------------------------------------------------ exact resume: RNG state
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["rng_states"] = capture_rng_states()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.net is None:  # restoring before configure_model (e.g. load_from_checkpoint)
            self.build(checkpoint["hyper_parameters"]["num_classes"], load_initial_weights=False)
        else:
            check_same_network(self.hparams, checkpoint.get("hyper_parameters") or {})
        self._initial_weights_pending = False  # the checkpoint's weights replace them
        # Restored at train start, after the sanity check, which an uninterrupted run never does.
        self._rng_to_restore = checkpoint.get("rng_states")

    def on_train_start(self) -> None:
        states, self._rng_to_restore = self._rng_to_restore, None
        if states:
            restore_rng_states(states)


ARCHITECTURE_KEYS = ("model", "num_classes", "base_width", "model_kwargs")


def check_same_network(config: Any, saved: dict[str, Any]) -> None:
    """Raise a one-line :class:`A2VideoError` when a checkpoint's network differs from the config's.

    Weights come from the checkpoint, settings from the config; a mismatch would otherwise surface
    as a ``state_dict`` size error listing hundreds of tensors.
    """
    different = [f"model.{key}: config {config.get(key)!r}, checkpoint {saved[key]!r}"
                 for key in ARCHITECTURE_KEYS
                 if key in saved and (config.get(key) or None) != (saved[key] or None)]
    if different:
        raise A2VideoError(f"the checkpoint holds another network than the config ({'; '.join(different)})")


def cpu_threads(num_workers: int, processes: int = 1) -> int | None:
    """Compute threads per training process on a CPU: the cores left after the loader workers.

    OpenMP threads that share cores with worker processes (or with other training processes)
    wait for each other at every parallel region; on a 2-core machine two threads beside two busy
    workers made a training step 17 times slower than one thread. None when the user has chosen
    (``OMP_NUM_THREADS`` is set).
    """
    if os.environ.get("OMP_NUM_THREADS"):
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, processes) - num_workers)


def capture_rng_states() -> dict[str, Any]:
    """RNG states as tensors and ints, so checkpoints load with ``torch.load(weights_only=True)``."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": random.getstate(),
    }


def restore_rng_states(states: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_states`."""
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    state = states["numpy"]
    np.random.set_state(("MT19937", state["keys"].numpy().astype(np.uint32), state["pos"],
                         state["has_gauss"], state["cached"]))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))

def make_schedule(
    *,
    total_steps: int,
    steps_per_epoch: float,
    schedule: str,
    warmup_steps: int,
    warmup_start_ratio: float,
    min_lr_ratio: float,
    step_epochs: list[int],
    step_gamma: float,
):
    """Learning-rate multiplier per optimiser step: linear warm-up, then cosine or step decay."""
    if schedule not in ("cosine", "step"):
        raise A2VideoError(f"schedule must be 'cosine' or 'step', got {schedule!r}")
    warmup_steps = min(warmup_steps, total_steps)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return warmup_start_ratio + (1 - warmup_start_ratio) * step / warmup_steps
        if schedule == "cosine":
            progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
            return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        epoch = step / steps_per_epoch
        return step_gamma ** sum(epoch >= e for e in step_epochs)

    return factor
