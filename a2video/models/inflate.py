"""Inflate a 2D ImageNet ResNet state dict into a ResNet3d (I3D, Carreira & Zisserman 2017).

A k×k kernel becomes t×k×k by repeating it t times along time and dividing by t, so a clip that
repeats one frame gives the 2D network's activations (away from the clip ends, where zero padding
in time differs). BatchNorm parameters and running statistics are copied; the classifier and the
attention blocks keep their fresh initialisation (blocks are identity at init). Reading the 2D
weights (torchvision, a file) is :mod:`a2video.models.weights`'s job.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from a2video.errors import WeightsError

# torchvision's bottleneck ResNets by units per stage: the 2D nets a ResNet3d of that shape inflates.
_TORCHVISION_BOTTLENECK_RESNETS = {(3, 4, 6, 3): "resnet50", (3, 4, 23, 3): "resnet101", (3, 8, 36, 3): "resnet152"}


def counterpart_2d(layers: tuple[int, ...]) -> str | None:
    """The torchvision 2D ResNet with the same bottleneck units per stage as ``layers``, or None."""
    return _TORCHVISION_BOTTLENECK_RESNETS.get(tuple(layers))


@dataclass
class InflationReport:
    """What :func:`inflate_state_dict` did, name by name."""

    loaded: list[str] = field(default_factory=list)  # 3D names set from the 2D weights
    inflated: dict[str, int] = field(default_factory=dict)  # of those, 3D name → temporal size t > 1
    new: list[str] = field(default_factory=list)  # 3D names kept at their initialisation
    unused: list[str] = field(default_factory=list)  # 2D names with no 3D counterpart


def inflate_state_dict(model: nn.Module, state_dict_2d: Mapping[str, torch.Tensor],
                       new: Collection[str]) -> InflationReport:
    """Load a 2D ResNet state dict into a 3D ``model`` in place.

    Args:
        model: the 3D network.
        state_dict_2d: torchvision-style 2D ResNet weights.
        new: the model's tensors that do not come from 2D (classifier, attention blocks).

    Raises:
        WeightsError: a backbone tensor is missing from the 2D weights or its shape does not match
            (for example a model built with ``base_width`` other than 64).
    """
    report = InflationReport()
    target = model.state_dict()
    updates: dict[str, torch.Tensor] = {}
    problems: list[str] = []
    for name, tensor3d in target.items():
        if name in new:
            report.new.append(name)
            continue
        if name not in state_dict_2d:
            problems.append(f"{name}: not in the 2D weights")
            continue
        tensor2d = state_dict_2d[name]
        if tensor3d.dim() == 5 and tensor2d.dim() == 4:
            t = tensor3d.shape[2]
            if tensor3d.shape[:2] + tensor3d.shape[3:] != tensor2d.shape:
                problems.append(f"{name}: 3D shape {tuple(tensor3d.shape)} vs 2D {tuple(tensor2d.shape)}")
                continue
            # Repeat along time and divide by t: a constant-in-time input then gives the 2D response.
            updates[name] = tensor2d.unsqueeze(2).repeat(1, 1, t, 1, 1) / t
            if t > 1:
                report.inflated[name] = t
        elif tensor3d.shape == tensor2d.shape:
            updates[name] = tensor2d.clone()
        else:
            problems.append(f"{name}: 3D shape {tuple(tensor3d.shape)} vs 2D {tuple(tensor2d.shape)}")
    if problems:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise WeightsError(f"the 2D weights do not fit this model ({shown}). Only base_width=64 models "
                           "can be inflated from ImageNet ResNet weights")
    report.loaded = sorted(updates)
    used = set(updates)
    report.unused = sorted(k for k in state_dict_2d if k not in used)
    model.load_state_dict({**target, **{k: v.to(target[k].dtype) for k, v in updates.items()}})
    return report
