"""SGD with parameter groups, the linear scaling rule, and the per-step learning-rate schedule.

Everything here is a function of explicit numbers except :func:`training_length`, which asks the
trainer how long the run is (the schedule needs it before the first step).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.model_helpers import is_overridden
from torch import nn

from a2video.errors import A2VideoError


def scaled_lr(lr: float, *, reference_batch_size: int, global_batch_size: int) -> float:
    """``lr`` quoted for ``reference_batch_size`` clips, scaled linearly to the global batch."""
    return lr * global_batch_size / reference_batch_size


def global_batch_size(trainer: pl.Trainer, per_device: int) -> int:
    """Clips per optimiser step over all processes and accumulated batches."""
    return per_device * trainer.world_size * trainer.accumulate_grad_batches


def parameter_groups(named_parameters: Iterable[tuple[str, nn.Parameter]], head_names: set[str], *,
                     base_lr: float, backbone_lr_mult: float, weight_decay: float) -> list[dict[str, Any]]:
    """Four groups: {backbone, classifier} × {decayed weights, norm/bias (no decay)}.

    Args:
        named_parameters: the module's ``named_parameters()``; frozen ones are skipped.
        head_names: names (as in ``named_parameters``) of the classifier's parameters.
        base_lr: the classifier's learning rate; the backbone gets ``base_lr * backbone_lr_mult``.
        backbone_lr_mult: see above (0.2 is the usual fine-tuning setting).
        weight_decay: L2 penalty of weights; norm scales/shifts and biases get none.
    """
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, param in named_parameters:
        if not param.requires_grad:
            continue
        no_decay = param.ndim <= 1  # BatchNorm/LayerNorm scales and shifts, biases
        groups.setdefault((name in head_names, no_decay), []).append(param)
    result = []
    for (is_head, no_decay), params in sorted(groups.items()):
        mult = 1.0 if is_head else backbone_lr_mult
        result.append({
            "params": params, "lr": base_lr * mult, "initial_lr": base_lr * mult,
            "weight_decay": 0.0 if no_decay else weight_decay,
            "name": f"{'head' if is_head else 'backbone'}{'_no_decay' if no_decay else ''}",
        })
    return result


def training_length(trainer: pl.Trainer) -> tuple[int, int]:
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
) -> Callable[[int], float]:
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


def sgd_with_schedule(groups: list[dict[str, Any]], *, base_lr: float, momentum: float, nesterov: bool,
                      schedule: Callable[[int], float]) -> dict[str, Any]:
    """Lightning's ``configure_optimizers`` answer: SGD over ``groups``, the schedule per step."""
    optimizer = torch.optim.SGD(groups, lr=base_lr, momentum=momentum, nesterov=nesterov)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
