"""The input a model's weights expect: pixel scaling, mean/std, frames × stride and crop sizes.

One :class:`Preprocessing` travels with the weights: the weight reader gives the one its source
implies (torchvision ImageNet, the SlowFast/pytorchvideo Kinetics models, a saved a2video
checkpoint), ``VideoClassifier`` saves it in every checkpoint, and ``test``, ``predict``, ``export``
and ``features`` read it from there. A data config that says otherwise is warned about.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch

from a2video.data.transforms import IMAGENET_MEAN, IMAGENET_STD, normalize_video


@dataclass(frozen=True)
class Preprocessing:
    """How a clip becomes the model's float input.

    Attributes:
        mean: per-channel mean (RGB), in the units of ``value_range``.
        std: per-channel standard deviation (RGB), in the units of ``value_range``.
        value_range: the pixel scale before ``mean``/``std``: 1.0 for [0, 1] (torchvision,
            SlowFast, pytorchvideo), 255.0 for raw [0, 255] pixels (mmaction2).
        num_frames: frames per clip (T).
        sampling_rate: stride between a clip's frames in the video.
        crop_size: training crop side.
        test_short_side: short side of test views.
        test_crop_size: side of the test crops.
        source: where these values come from (for messages).
        clip_known: whether the clip settings come from how the weights were trained (False for 2D
            ImageNet weights, which say nothing about frames; the defaults are then only defaults).
    """

    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    value_range: float = 1.0
    num_frames: int = 8
    sampling_rate: int = 8
    crop_size: int = 224
    test_short_side: int = 256
    test_crop_size: int = 256
    source: str = "torchvision ImageNet"
    clip_known: bool = True

    def normalize(self, video: torch.Tensor) -> torch.Tensor:
        """uint8 (..., C, T, H, W) → float32 model input, on ``video``'s device."""
        # (x · range/255 − mean) / std  ==  (x/255 − mean/range) / (std/range)
        return normalize_video(video, tuple(m / self.value_range for m in self.mean),
                               tuple(s / self.value_range for s in self.std))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (lists, floats, ints, a string)."""
        values = asdict(self)
        values["mean"], values["std"] = list(self.mean), list(self.std)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Preprocessing:
        """Inverse of :meth:`to_dict`; unknown keys are ignored (files written by later versions)."""
        known = {f.name for f in fields(cls)}
        kept = {k: v for k, v in values.items() if k in known}
        for key in ("mean", "std"):
            if key in kept:
                kept[key] = tuple(float(x) for x in kept[key])
        return cls(**kept)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def with_clip(self, **changes: Any) -> Preprocessing:
        """A copy with other clip settings (frames, stride, sizes, source), which are then known."""
        return replace(self, **{"clip_known": True, **changes})

    def describe(self) -> str:
        """One line for summaries: 'mean (0.45, 0.45, 0.45) std ... on [0, 1], 8×8, crop 224'."""
        mean = ", ".join(f"{m:g}" for m in self.mean)
        std = ", ".join(f"{s:g}" for s in self.std)
        return (f"mean ({mean}) std ({std}) on [0, {self.value_range:g}], {self.num_frames}×{self.sampling_rate} "
                f"frames, crop {self.crop_size}, test {self.test_short_side}/{self.test_crop_size} ({self.source})")


IMAGENET = Preprocessing(clip_known=False)
"""torchvision's ImageNet statistics on [0, 1] (what ImageNet-inflated models are trained with)."""

KINETICS_SLOWFAST = Preprocessing(mean=(0.45, 0.45, 0.45), std=(0.225, 0.225, 0.225),
                                  source="PySlowFast / pytorchvideo Kinetics")
"""The statistics PySlowFast and pytorchvideo train their Kinetics models with, on [0, 1]."""

MMACTION2_IMAGENET = Preprocessing(mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375), value_range=255.0,
                                   num_frames=32, sampling_rate=2, source="mmaction2")
"""mmaction2's ImageNet statistics on raw [0, 255] pixels, with its I3D 32×2 clips."""
