"""A trained model in a file → a ready network, the preprocessing it expects and its class names.

:func:`load_trained` is what ``predict``, ``export``, ``features``, ``convert`` (and ``explain``)
start from. It reads every source :func:`a2video.models.weights.load_weights` reads: an a2video
checkpoint (which names its network, preprocessing and classes), a known public checkpoint
(``pytorchvideo:i3d_r50_k400``), another toolkit's file, or a plain state dict.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch
from torch import nn

from a2video.data.clips import ClipSpec
from a2video.data.lists import read_classes
from a2video.errors import WeightsError
from a2video.files import atomic_write
from a2video.models import foreign, hub
from a2video.models.preprocessing import IMAGENET, Preprocessing
from a2video.models.registry import create_model, get_builder
from a2video.models.weights import (
    WeightsReport,
    load_weights,
    read_checkpoint,
    saved_class_names,
    saved_preprocessing,
    state_dict_from,
)

log = logging.getLogger(__name__)


@dataclass
class TrainedModel:
    """A network in eval mode with what it needs to be used."""

    net: nn.Module
    model_name: str
    preprocessing: Preprocessing
    class_names: list[str]
    report: WeightsReport
    base_width: int = 64
    model_kwargs: dict[str, Any] | None = None
    clip: ClipSpec | None = None
    """How ``test`` sampled (saved in the checkpoint); ``None`` (older and foreign files) becomes
    the preprocessing's clip. ``predict``, ``features`` and ``explain`` start from it."""

    def __post_init__(self) -> None:
        if self.clip is None:
            self.clip = clip_from_preprocessing(self.preprocessing)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def load_trained(source: str | os.PathLike, *, model: str | None = None, classes_file: str | os.PathLike | None = None,
                 device: str | torch.device = "cpu") -> TrainedModel:
    """Build the network a checkpoint holds and load it.

    Args:
        source: an a2video ``.ckpt``, a known checkpoint name, or another toolkit's file.
        model: the a2video model to build; default: the checkpoint's own (a2video), the table's
            (known names), else ``i3d_r50``. An A² model may take an I3D checkpoint (blocks start at
            identity).
        classes_file: ``classes.txt`` for a checkpoint that does not hold its class names; it
            overrides saved names when given.
        device: where the network goes.

    Raises:
        WeightsError: unreadable source, a network that does not fit, or a classes file whose size
            differs from the classifier's.
    """
    known = hub.KNOWN_CHECKPOINTS.get(str(source))
    path = hub.fetch(str(source)) if known else Path(source).expanduser()
    obj = read_checkpoint(path, "checkpoint")  # the one read of the file
    hparams = obj.get("hyper_parameters") if isinstance(obj.get("hyper_parameters"), dict) else {}
    name = model or hparams.get("model") or (known.model if known else "i3d_r50")
    get_builder(name)  # an unknown name is one line before anything is built
    model_kwargs = hparams.get("model_kwargs") if name == hparams.get("model") else None
    num_classes, base_width, translated = _network_size(obj, path, name, model_kwargs)
    net = create_model(name, num_classes=num_classes, base_width=base_width, **(model_kwargs or {}))
    report = load_weights(net, str(source) if known else path, checkpoint=(path, obj), translated=translated)
    names = _class_names(obj, classes_file, num_classes, path)
    preprocessing = report.preprocessing or saved_preprocessing(obj)
    if preprocessing is None:
        preprocessing = IMAGENET.with_clip(source="not saved in the checkpoint; ImageNet assumed")
        log.warning("%s does not say which preprocessing it expects; using %s", path, preprocessing.describe())
    return TrainedModel(net.eval().to(device), name, preprocessing, names, report, base_width, model_kwargs,
                        saved_clip(obj))


def saved_clip(obj: dict[str, Any]) -> ClipSpec | None:
    """The clip spec an a2video checkpoint was tested with (None in older checkpoints)."""
    extra = obj.get("a2video")
    values = extra.get("clip") if isinstance(extra, dict) else None
    return ClipSpec.from_dict(values) if isinstance(values, dict) else None


def clip_from_preprocessing(preprocessing: Preprocessing) -> ClipSpec:
    """The a2video protocol with the frames and sizes the weights' preprocessing names."""
    return ClipSpec(num_frames=preprocessing.num_frames, sampling_rate=preprocessing.sampling_rate,
                    train_scale_range=(max(preprocessing.crop_size, 256), max(preprocessing.crop_size, 320)),
                    crop_size=preprocessing.crop_size, test_short_side=preprocessing.test_short_side,
                    test_crop_size=preprocessing.test_crop_size)


def _network_size(obj: dict[str, Any], path: Path, name: str,
                  model_kwargs: dict[str, Any] | None) -> tuple[int, int, Any]:
    """(classes, base width, the foreign translation or None) from the weights themselves.

    The translation is made for a probe of the same architecture; parameter names do not depend on
    the class count or the width, so ``load_weights`` reuses it instead of translating again.
    """
    with torch.device("meta"):  # only names and shapes are needed to translate a foreign layout
        probe = create_model(name, num_classes=1, base_width=64, **(model_kwargs or {}))
    translated = foreign.translate(obj, probe, path)
    state = translated.state if translated is not None else state_dict_from(obj, path)[0]
    if "fc.weight" not in state or "conv1.weight" not in state:
        raise WeightsError(f"{path} holds no classifier (fc.weight) or stem (conv1.weight): not a trained video "
                           "classifier this command can run")
    return int(state["fc.weight"].shape[0]), int(state["conv1.weight"].shape[0]), translated


def _class_names(obj: dict[str, Any], classes_file: str | os.PathLike | None, num_classes: int,
                 path: Path) -> list[str]:
    if classes_file is not None:
        names = read_classes(classes_file)
        if len(names) != num_classes:
            raise WeightsError(f"{classes_file} has {len(names)} classes, the classifier of {path} has {num_classes}")
        return names
    names = saved_class_names(obj)
    if names is not None and len(names) == num_classes:
        return names
    log.warning("%s does not hold class names; pass --classes classes.txt to name them (using class_0 ...)", path)
    return [f"class_{i}" for i in range(num_classes)]


def save_a2video_checkpoint(trained: TrainedModel, path: str | os.PathLike) -> Path:
    """Write ``trained`` as an a2video checkpoint: usable as ``model.init_from`` and by ``predict``."""
    try:
        lightning_version = version("pytorch-lightning")
    except PackageNotFoundError:  # the key only marks the layout; any version string does
        lightning_version = "unknown"
    checkpoint = {
        "state_dict": {f"net.{k}": v.detach().cpu() for k, v in trained.net.state_dict().items()},
        "pytorch-lightning_version": lightning_version,
        "hyper_parameters": {"model": trained.model_name, "num_classes": trained.num_classes,
                             "base_width": trained.base_width, "model_kwargs": trained.model_kwargs},
        "a2video": {"preprocessing": trained.preprocessing.to_dict(), "class_names": list(trained.class_names),
                    "clip": trained.clip.to_dict(),
                    "converted_from": trained.report.source, "format": trained.report.format},
    }
    return atomic_write(path, lambda f: torch.save(checkpoint, f))
