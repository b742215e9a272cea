"""Precise BatchNorm statistics: recomputed from training batches before every evaluation.

During training the running mean and variance of a BatchNorm layer are an exponential average
over batches seen by ever-changing weights, so they lag behind the final weights. Before each
validation and test, :class:`PreciseBN` replaces them with the plain average, over
``num_batches`` training batches and the fixed current weights, of each batch's mean and
(unbiased) variance: PySlowFast's ``BN.USE_PRECISE_STATS`` (fvcore's ``update_bn_stats``), with 200
batches in its I3D recipes. Under DDP every rank averages its own batches, then the ranks' averages
are averaged (all ranks run the same number of batches), so every rank evaluates with the same
statistics.

The batches come from a loader of this module's own, seeded by (data seed, epoch) with a stream
apart from the training order, and every RNG is restored afterwards: the training loader's position
and the random numbers training draws are exactly those of a run without precise BN (exact resume).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from torch import nn
from torch.utils.data import DataLoader

from a2video.data.loader import EpochSampler
from a2video.engine.checkpoints import capture_rng_states, restore_rng_states
from a2video.errors import A2VideoError, ConfigError

log = logging.getLogger(__name__)

# Mixed into the data seed so precise BN draws other videos and clips than the epoch's training.
_STREAM = 0x5052_424E  # "PRBN"


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers of ``model`` that keep running statistics (SyncBatchNorm included)."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def update_bn_statistics(model: nn.Module, clips: Iterable[torch.Tensor], *,
                         reduce: Callable[[torch.Tensor], torch.Tensor] = lambda t: t) -> int:
    """Set every BatchNorm layer's running statistics to the average of its batch statistics.

    Only the BatchNorm layers run in training mode (dropout and anything else stay in eval mode);
    every module's mode, momentum and ``num_batches_tracked`` are restored afterwards.

    Args:
        model: the network; called as ``model(clip_batch)``.
        clips: input batches, e.g. ``(N, C, T, H, W)`` training clips on the model's device.
        reduce: averages a tensor over processes (identity on one process), applied to the
            concatenated statistics of all layers at once.

    Returns:
        The number of batches averaged (0 leaves the statistics untouched).
    """
    layers = batchnorm_layers(model)
    modes = {module: module.training for module in model.modules()}
    saved = [(layer.momentum, layer.num_batches_tracked.clone()) for layer in layers]
    old_stats = [(layer.running_mean.clone(), layer.running_var.clone()) for layer in layers]
    count = 0
    try:
        model.eval()
        for layer in layers:
            layer.train()
            layer.reset_running_stats()
            layer.momentum = None  # running stat = cumulative average: 1/k weight for the k-th batch
        for batch in clips:
            model(batch)
            count += 1
        if count == 0:  # nothing to average: keep the statistics the model had
            for layer, (mean, var) in zip(layers, old_stats):
                layer.running_mean.copy_(mean)
                layer.running_var.copy_(var)
        elif layers:
            flat = torch.cat([t.float().flatten() for layer in layers for t in (layer.running_mean, layer.running_var)])
            flat = reduce(flat)
            offset = 0
            for layer in layers:
                for buffer in (layer.running_mean, layer.running_var):
                    # copy_ keeps the buffer a normal tensor (this runs in the eval loop's inference mode)
                    buffer.copy_(flat[offset : offset + buffer.numel()].view_as(buffer))
                    offset += buffer.numel()
    finally:
        for layer, (momentum, tracked) in zip(layers, saved):
            layer.momentum = momentum
            layer.num_batches_tracked.copy_(tracked)
        for module, training in modes.items():
            module.training = training
    return count


def training_batches(datamodule: pl.LightningDataModule, *, epoch: int, rank: int, world_size: int) -> DataLoader:
    """A loader of training batches (clips, augmentation, batch size as in training) for precise BN.

    Its order is a function of (data seed, epoch, rank), drawn apart from the training order, and its
    own generator seeds the workers; the training loader itself is not touched.
    """
    train = datamodule.train_dataloader()
    seed = int(np.random.SeedSequence([int(getattr(datamodule, "seed", 0)), _STREAM]).generate_state(1)[0])
    sampler = EpochSampler(len(train.dataset), shuffle=True, seed=seed, rank=rank, world_size=world_size, pad=True,
                           with_item_seeds=True)
    sampler.set_epoch(epoch)
    return DataLoader(train.dataset, sampler=sampler, batch_size=train.batch_size, collate_fn=train.collate_fn,
                      drop_last=len(sampler) >= train.batch_size, num_workers=train.num_workers,
                      pin_memory=train.pin_memory, generator=torch.Generator().manual_seed(seed))


class PreciseBN(Callback):
    """Recompute BatchNorm statistics from training batches before each validation and test.

    Configured as ``precise_bn.num_batches`` (PySlowFast's ``BN.NUM_BATCHES_PRECISE``; 200 in its
    I3D recipes); 0 turns it off. Validation during the sanity check is left alone. ``validate``
    and ``test`` need the training list too (``data.train_list``).

    Args:
        num_batches: training batches per process to average over (fewer when the training set
            has fewer); 0 keeps the running averages of training.
    """

    def __init__(self, num_batches: int = 0) -> None:
        if num_batches < 0:
            raise ValueError(f"precise_bn.num_batches must be >= 0, got {num_batches}")
        self.num_batches = num_batches

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Fail before the run when precise BN cannot work with this config."""
        if not self.num_batches:
            return
        if (getattr(pl_module, "hparams", None) or {}).get("freeze_bn_stats"):
            raise ConfigError("precise_bn.num_batches recomputes the BatchNorm statistics that model.freeze_bn_stats "
                              "keeps fixed; set one of them off")
        datamodule = getattr(trainer, "datamodule", None)
        if datamodule is None or not datamodule.has_split("train"):
            raise A2VideoError("precise BN needs the training videos (data.train_list); give them, or pass "
                               "--precise_bn.num_batches 0 to evaluate with the running statistics")

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.recompute(trainer, pl_module)

    def on_test_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.recompute(trainer, pl_module)

    def recompute(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Average ``num_batches`` training batches' statistics into every BatchNorm layer."""
        if not self.num_batches or not batchnorm_layers(pl_module):
            return
        try:
            loader = training_batches(trainer.datamodule, epoch=trainer.current_epoch, rank=trainer.global_rank,
                                      world_size=trainer.world_size)
        except A2VideoError as error:
            raise type(error)(f"precise BN: {error.message()} (--precise_bn.num_batches 0 turns it off)") from None
        dtype = next(pl_module.parameters()).dtype  # float32, or the weights' own type under *-true precision

        def clips() -> Iterable[torch.Tensor]:
            for batch in itertools.islice(loader, self.num_batches):
                yield trainer.strategy.batch_to_device(batch)["video"].to(dtype)  # normalised by the data module

        rng = capture_rng_states()
        try:
            count = update_bn_statistics(pl_module, clips(),
                                         reduce=lambda t: trainer.strategy.reduce(t, reduce_op="mean"))
        finally:
            restore_rng_states(rng)
        if trainer.is_global_zero:
            log.info("precise BN: %d BatchNorm layers' statistics from %d training batches per process",
                     len(batchnorm_layers(pl_module)), count)
