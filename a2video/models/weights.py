"""The one reader of model weights: where a model's starting point comes from, name for name.

Sources a model can start from (:func:`load_weights`):

- ``"imagenet"`` (``imagenet1k_v1``, ``imagenet1k_v2``): torchvision's 2D ResNet weights, downloaded
  once into the torch hub cache, inflated to 3D (:mod:`a2video.models.inflate`);
- a file holding a 2D ResNet state dict (e.g. ``resnet50-0676ba61.pth``), inflated the same way;
- a file holding 3D weights: an a2video Lightning checkpoint (``.ckpt``) or a plain state dict;
- another toolkit's I3D checkpoint (PySlowFast ``.pyth`` / Caffe2 ``.pkl``, pytorchvideo ``.pyth``,
  mmaction2 ``.pth``), renamed by :mod:`a2video.models.foreign`;
- a public checkpoint by name (``pytorchvideo:i3d_r50_k400``, :mod:`a2video.models.hub`), downloaded
  once into the torch hub cache.

Whatever the source, the result is a :class:`WeightsReport` saying which of the model's tensors were
loaded (and the :class:`~a2video.models.preprocessing.Preprocessing` the weights expect, when the
source says), which are new (attention blocks missing from the source start at identity; a classifier of
another size starts fresh) and which source tensors were left out. Anything else that does not fit
(a missing backbone tensor, a shape mismatch, a tensor the model does not have) is a
:class:`~a2video.errors.WeightsError` naming the tensors: a partial load is never silent.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from a2video.errors import WeightsError, one_line
from a2video.models import foreign, hub
from a2video.models.inflate import counterpart_2d, inflate_state_dict
from a2video.models.preprocessing import IMAGENET, Preprocessing

log = logging.getLogger(__name__)

IMAGENET_SOURCES = {"imagenet": "IMAGENET1K_V1", "imagenet1k_v1": "IMAGENET1K_V1", "imagenet1k_v2": "IMAGENET1K_V2"}
# Prefixes under which wrappers keep a network's weights: our LightningModule ("net."), DDP and
# DataParallel ("module."), other trainers ("model.").
_WRAPPER_PREFIXES = ("net.", "module.", "model.")


@dataclass
class WeightsReport:
    """What :func:`load_weights` did, name by name (the model's state-dict names)."""

    source: str
    format: str  # "a2video checkpoint", "state dict", "2D ResNet (inflated)", ...
    loaded: list[str] = field(default_factory=list)  # set from the source
    inflated: dict[str, int] = field(default_factory=dict)  # of those, 2D kernels repeated t > 1 times in time
    new: list[str] = field(default_factory=list)  # kept at their initialisation
    left_out: list[str] = field(default_factory=list)  # source tensors the model did not take
    preprocessing: Preprocessing | None = None  # what the weights expect; None when the source does not say

    def summary(self) -> str:
        parts = [f"{self.format}: loaded {len(self.loaded)} tensors"]
        if self.inflated:
            parts.append(f"{len(self.inflated)} of them inflated along time")
        parts.append(f"new {len(self.new)} ({_group(self.new)})")
        parts.append(f"left out {len(self.left_out)} ({_group(self.left_out)})")
        return ", ".join(parts)


def _group(names: list[str]) -> str:
    """Names summarised by their first component: 'fc: 2, layer2: 16'."""
    counts: dict[str, int] = {}
    for name in names:
        key = "attention blocks" if ".attention." in name else name.split(".")[0]
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "none"


# ------------------------------------------------------------------ reading
def _is_pickle(path: Path) -> bool:
    """Whether the file starts like a pickle (protocol 2 or later) or a legacy torch file."""
    with open(path, "rb") as handle:
        return handle.read(1) == b"\x80"


def read_checkpoint(path: str | os.PathLike, what: str = "checkpoint") -> dict[str, Any]:
    """Load a file written by ``torch.save`` without executing pickled code.

    Raises:
        WeightsError: the file is missing, truncated, not a torch file, or holds something other
            than a dict (``what`` names it in the message).
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise WeightsError(f"{what} {path} is a folder, not a file")
    if not path.is_file():
        raise WeightsError(f"{what} not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=_is_zip(path))
    except Exception as error:  # torch raises many types for truncated, foreign or corrupt files
        try:
            obj = None if _is_zip(path) else foreign.read_caffe2_pickle(path)  # PySlowFast's zoo: a plain pickle
        except Exception:  # a damaged pickle: torch's error is the one to report
            obj = None
        if obj is None and not _is_zip(path) and not _is_pickle(path):
            raise WeightsError(f"{path} is not a {what}: not a file written by torch.save (nor a pickle)") from None
        if obj is None:
            text = one_line(error, limit=300)
            raise WeightsError(f"cannot read {what} {path}: {type(error).__name__}: {text}") from None
    if not isinstance(obj, dict):
        raise WeightsError(f"{path} holds a {type(obj).__name__}, not a {what}")
    return obj


def _is_zip(path: Path) -> bool:
    # torch.save's format since 1.6 is a zip archive; only those can be memory-mapped.
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def saved_preprocessing(obj: Mapping[str, Any]) -> Preprocessing | None:
    """The preprocessing an a2video checkpoint was trained with (None in older checkpoints)."""
    extra = obj.get("a2video")
    if isinstance(extra, Mapping) and isinstance(extra.get("preprocessing"), Mapping):
        return Preprocessing.from_dict(dict(extra["preprocessing"]))
    return None


def saved_class_names(obj: Mapping[str, Any]) -> list[str] | None:
    """The class names an a2video checkpoint was trained on (None when it does not hold them)."""
    extra = obj.get("a2video")
    names = extra.get("class_names") if isinstance(extra, Mapping) else None
    return [str(n) for n in names] if names else None


def state_dict_from(obj: Mapping[str, Any], path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], str]:
    """The network weights inside a loaded checkpoint, and the name of its format.

    Unwraps an a2video (Lightning) checkpoint's ``state_dict`` and the ``module.``/``net.``
    prefixes of DDP and our LightningModule.
    """
    if isinstance(obj.get("state_dict"), Mapping) and "pytorch-lightning_version" in obj:
        state, fmt = obj["state_dict"], "a2video checkpoint"
    elif isinstance(obj.get("state_dict"), Mapping):
        state, fmt = obj["state_dict"], "state dict"
    elif isinstance(obj.get("model"), Mapping):
        state, fmt = obj["model"], "state dict"
    else:
        state, fmt = obj, "state dict"
    if not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path} holds no state dict of tensors (keys: {', '.join(list(obj)[:5])})")
    for prefix in _WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return dict(state), fmt


def _is_2d(state: Mapping[str, torch.Tensor]) -> bool:
    stem = state.get("conv1.weight")
    return stem is not None and stem.dim() == 4


def imagenet_state_dict(source: str, arch: str | None) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet weights for ``arch``: from the torch hub cache, else downloaded.

    Offline, a one-line error gives the URL to fetch by hand and where to put the file.
    """
    if arch is None:
        raise WeightsError("this model has no 2D ImageNet counterpart; train it from scratch (pretrained=null)")
    import torchvision.models as tvm

    enum_name = {"resnet50": "ResNet50_Weights", "resnet101": "ResNet101_Weights",
                 "resnet152": "ResNet152_Weights"}.get(arch)
    if enum_name is None:
        raise WeightsError(f"no ImageNet weights exist for {arch!r}; train it from scratch (pretrained=null)")
    weights = getattr(tvm, enum_name)[IMAGENET_SOURCES[source]]
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)
    try:
        return weights.get_state_dict(progress=False)
    except Exception as error:  # URLError, socket errors, SSL errors, HTTP errors ...
        raise WeightsError(
            f"cannot download torchvision {arch} {weights.name} weights ({type(error).__name__}). Download "
            f"{weights.url} on a machine with internet and either put it at {cached} or pass "
            f"pretrained=/path/to/{os.path.basename(weights.url)}"
        ) from None


# ------------------------------------------------------------------ loading
_NOT_TRANSLATED = object()


def load_weights(model: nn.Module, source: str | os.PathLike, *, replace_classifier: bool = False,
                 checkpoint: tuple[Path, Mapping[str, Any]] | None = None,
                 translated: Any = _NOT_TRANSLATED) -> WeightsReport:
    """Load ``source`` (see the module docstring) into ``model`` in place.

    Args:
        model: a :class:`~a2video.models.ResNet3d`; it says which of its tensors are the classifier
            and the attention blocks.
        source: ``"imagenet"``, a known checkpoint's name (:data:`a2video.models.hub.KNOWN_CHECKPOINTS`)
            or a file path.
        replace_classifier: keep the model's fresh classifier even when the source's has the same
            shape (fine-tuning on another label set of the same size).
        checkpoint: ``(path, contents)`` of ``source`` when the caller has read it already (a
            file is read once per command).
        translated: ``foreign.translate``'s answer for these contents, when the caller has it.

    Raises:
        WeightsError: the source cannot be read or does not fit the model (the names are listed).
    """
    key = str(source).lower()
    known = hub.KNOWN_CHECKPOINTS.get(str(source))
    preprocessing: Preprocessing | None = None
    if key in IMAGENET_SOURCES:
        state, fmt = imagenet_state_dict(key, counterpart_2d(model.layers)), "torchvision ImageNet"
    else:
        if checkpoint is None:
            path = hub.fetch(str(source), progress=sys.stderr.isatty()) if known else source
            obj = read_checkpoint(path, "weights file")
        else:
            path, obj = checkpoint
        if translated is _NOT_TRANSLATED:
            translated = foreign.translate(obj, model, path)
        if translated is not None:
            report = _load_3d(model, translated.state, WeightsReport(str(source), translated.format),
                              replace_classifier)
            report.left_out = sorted(set(report.left_out) | set(translated.left_out))
            report.preprocessing = known.preprocessing if known else translated.preprocessing
            return report
        state, fmt = state_dict_from(obj, path)
        preprocessing = saved_preprocessing(obj)
    if _is_2d(state):
        if counterpart_2d(model.layers) is None:
            raise WeightsError(f"{source} holds 2D ResNet weights, and this model has no 2D ImageNet counterpart")
        report = WeightsReport(str(source), f"{fmt} (2D, inflated)", preprocessing=IMAGENET)
        result = inflate_state_dict(model, state, new=_new_names(model, state, replace_classifier=True))
        report.loaded, report.inflated, report.new, report.left_out = (
            result.loaded, result.inflated, result.new, result.unused)
        return report
    return _load_3d(model, state, WeightsReport(str(source), fmt, preprocessing=preprocessing), replace_classifier)


def _new_names(model: nn.Module, state: Mapping[str, torch.Tensor], *, replace_classifier: bool) -> set[str]:
    """Model tensors that may legitimately be absent from ``state``: attention blocks, and the
    classifier when it is replaced or its shape differs."""
    own = model.state_dict()
    new = set(model.attention_state_names()) - set(state)
    head = set(model.classifier_parameter_names())
    if replace_classifier or any(k in state and state[k].shape != own[k].shape for k in head):
        new |= head
    return new


def _load_3d(model: nn.Module, state: dict[str, torch.Tensor], report: WeightsReport,
             replace_classifier: bool) -> WeightsReport:
    own = model.state_dict()
    new = _new_names(model, state, replace_classifier=replace_classifier)
    head = set(model.classifier_parameter_names())
    report.left_out = sorted(k for k in state if k in new and k in head)  # the source's classifier
    usable = {k: v for k, v in state.items() if k not in new}
    mismatched = [f"{k} {tuple(v.shape)} vs model {tuple(own[k].shape)}" for k, v in usable.items()
                  if k in own and v.shape != own[k].shape]
    # BatchNorm's step counters are absent from Caffe2 files; they only matter with momentum=None.
    counters = {k for k in own if k not in usable and k.endswith("num_batches_tracked")}
    new |= counters
    missing = [k for k in own if k not in usable and k not in new]
    unexpected = [k for k in usable if k not in own]
    if mismatched or missing or unexpected:
        details = "; ".join(f"{label} ({len(names)}): {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"
                            for label, names in (("shape mismatch", mismatched), ("missing", missing),
                                                 ("not in the model", unexpected)) if names)
        raise WeightsError(f"{report.source} does not fit {type(model).__name__} ({details})")
    model.load_state_dict({**own, **{k: v.to(own[k].dtype) for k, v in usable.items()}})
    report.loaded = sorted(usable)
    report.new = sorted(new)
    return report


def load_initial_weights(model: nn.Module, *, pretrained: str | None = None, init_from: str | None = None,
                         replace_classifier: bool = False) -> list[WeightsReport]:
    """A model's starting point: ``pretrained`` (ImageNet, inflated), then ``init_from`` (a 3D
    checkpoint, e.g. Kinetics for UCF-101). Errors name the option that failed."""
    reports = []
    for option, source in (("pretrained", pretrained), ("init_from", init_from)):
        if not source:
            continue
        try:
            report = load_weights(model, source, replace_classifier=replace_classifier)
        except WeightsError as error:
            raise WeightsError(f"{option}: {error}") from None
        log.info("%s %s: %s", option, source, report.summary())
        reports.append(report)
    return reports
