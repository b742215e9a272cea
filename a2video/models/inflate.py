"""Inflate a 2D ImageNet ResNet state dict into a ResNet3d (I3D, Carreira & Zisserman 2017).

A k×k kernel becomes t×k×k by repeating it t times along time and dividing by t, so a clip that
repeats one frame gives the 2D network's activations (away from the clip ends, where zero padding
in time differs). BatchNorm parameters and running statistics are copied; the classifier and the
attention blocks keep their fresh initialisation (blocks are identity at init).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from a2video.errors import WeightsError

log = logging.getLogger(__name__)

# Parameters of the 3D model that never come from the 2D network.
_NEW_PREFIXES = ("fc.",)
_NEW_PARTS = (".attention.",)


@dataclass
class InflationReport:
    """What :func:`inflate_state_dict` did, name by name."""

    inflated: dict[str, int] = field(default_factory=dict)  # 3D name → temporal size t > 1
    copied: list[str] = field(default_factory=list)  # same shape as in 2D (1×1 convs, BN, ...)
    left_new: list[str] = field(default_factory=list)  # 3D names kept at their initialisation
    unused: list[str] = field(default_factory=list)  # 2D names with no 3D counterpart

    def summary(self) -> str:
        return (
            f"inflated {len(self.inflated)} kernels along time, copied {len(self.copied)} tensors, "
            f"left {len(self.left_new)} new ({_group(self.left_new)}), ignored {len(self.unused)} "
            f"from 2D ({_group(self.unused)})"
        )


def _group(names: list[str]) -> str:
    """Summarise names by their first component: 'fc: 2, layer2: 16'."""
    counts: dict[str, int] = {}
    for name in names:
        key = name.split(".")[0] if ".attention." not in name else "attention blocks"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "none"


def _is_new(name: str) -> bool:
    return name.startswith(_NEW_PREFIXES) or any(part in f".{name}" for part in _NEW_PARTS)


def inflate_state_dict(model: nn.Module, state_dict_2d: Mapping[str, torch.Tensor]) -> InflationReport:
    """Load a 2D ResNet state dict into a 3D ``model`` in place.

    Raises:
        WeightsError: a backbone tensor is missing from the 2D weights or its shape does not match
            (for example a model built with ``base_width`` other than 64).
    """
    report = InflationReport()
    target = model.state_dict()
    updates: dict[str, torch.Tensor] = {}
    problems: list[str] = []
    for name, tensor3d in target.items():
        if _is_new(name):
            report.left_new.append(name)
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
            else:
                report.copied.append(name)
        elif tensor3d.shape == tensor2d.shape:
            updates[name] = tensor2d.clone()
            report.copied.append(name)
        else:
            problems.append(f"{name}: 3D shape {tuple(tensor3d.shape)} vs 2D {tuple(tensor2d.shape)}")
    if problems:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise WeightsError(f"the 2D weights do not fit this model ({shown}). Only base_width=64 models "
                           "can be inflated from ImageNet ResNet weights")
    used = set(updates)
    report.unused = sorted(k for k in state_dict_2d if k not in used)
    model.load_state_dict({**target, **{k: v.to(target[k].dtype) for k, v in updates.items()}})
    return report


def load_2d_state_dict(source: str | os.PathLike, arch: str = "resnet50") -> dict[str, torch.Tensor]:
    """Read 2D weights from "imagenet" (torchvision, downloaded or cached) or a local file.

    A local file may hold a plain state dict or one wrapped under "state_dict" or "model"; a
    "module." prefix (saved from DataParallel/DDP) is removed.
    """
    if str(source) in ("imagenet", "imagenet1k_v1", "imagenet1k_v2"):
        return _torchvision_state_dict(arch, "IMAGENET1K_V2" if str(source).endswith("v2") else "IMAGENET1K_V1")
    path = Path(source).expanduser()
    if not path.is_file():
        raise WeightsError(f"pretrained weights file not found: {path} (pass pretrained=imagenet or the path "
                           f"of a torchvision {arch} state dict, e.g. resnet50-0676ba61.pth)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for corrupt or foreign files
        raise WeightsError(f"cannot read pretrained weights {path}: {type(error).__name__}: {error}") from None
    for key in ("state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path} does not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _torchvision_state_dict(arch: str, variant: str) -> dict[str, torch.Tensor]:
    import torchvision.models as tvm

    enum_name = {"resnet50": "ResNet50_Weights", "resnet101": "ResNet101_Weights"}.get(arch)
    if enum_name is None:
        raise WeightsError(f"no ImageNet weights exist for {arch!r}; train it from scratch (pretrained=null)")
    weights = getattr(tvm, enum_name)[variant]
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)
    try:
        return weights.get_state_dict(progress=False)
    except Exception as error:  # URLError, socket errors, SSL errors, HTTP errors ...
        raise WeightsError(
            f"cannot download torchvision {arch} {variant} weights ({type(error).__name__}). Download "
            f"{weights.url} on a machine with internet and either put it at {cached} or pass "
            f"pretrained=/path/to/{os.path.basename(weights.url)}"
        ) from None


def inflate_pretrained(model: nn.Module, source: str | os.PathLike, arch: str | None = "resnet50") -> InflationReport:
    """Load 2D weights from ``source`` (see :func:`load_2d_state_dict`) into ``model`` and log a summary."""
    if arch is None:
        raise WeightsError(f"{type(model).__name__} has no 2D ImageNet counterpart; use pretrained=null")
    report = inflate_state_dict(model, load_2d_state_dict(source, arch))
    log.info("ImageNet inflation from %s: %s", source, report.summary())
    return report
