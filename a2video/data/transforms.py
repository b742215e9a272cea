"""Spatial clip transforms on uint8 frames, and ImageNet normalisation on the device.

Decoded frames are (T, H, W, C) uint8. The transforms crop and flip in that layout
(slicing, no copies) and end with one permute to the model's (C, T, H, W). Resizing
normally happens inside the decoder; :func:`resize_short_side` is for frames that
did not come out at the size asked for.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _long_side(long: int, short: int, short_side: int, rounding: str) -> int:
    if rounding == "round":  # a2video: Python's round (half to even)
        return int(round(long * (short_side / short)))
    if rounding == "floor":  # PySlowFast / pytorchvideo: floor(long / short * size)
        return int(math.floor(float(long) / short * short_side))
    if rounding == "half_up":  # mmaction2 (mmcv.rescale_size): int(long * scale + 0.5)
        return int(long * float(short_side / short) + 0.5)
    raise ValueError(f"rounding must be round, floor or half_up, got {rounding!r}")


def short_side_size(height: int, width: int, short_side: int, rounding: str = "round") -> tuple[int, int]:
    """(height, width) after scaling so that the shorter side is ``short_side``; the long side is
    rounded as the protocol does (``round``, ``floor`` or ``half_up``: :mod:`a2video.data.protocols`)."""
    if height <= width:
        return short_side, max(short_side, _long_side(width, height, short_side, rounding))
    return max(short_side, _long_side(height, width, short_side, rounding)), short_side


RESIZE_FILTERS = ("antialias", "bilinear")


def resize_short_side(frames: torch.Tensor, short_side: int, rounding: str = "round",
                      resize_filter: str = "antialias") -> torch.Tensor:
    """Resizes (..., H, W, C) uint8 frames so the shorter side is ``short_side`` (no-op if it is).

    ``antialias``: torchvision's antialiased resize of uint8 frames (a2video). ``bilinear``: what
    PySlowFast, pytorchvideo and mmaction2 do, ``interpolate(mode="bilinear", align_corners=False)``
    without antialiasing on float frames, here rounded back to uint8 (within half a level of theirs,
    which stay float: resizing commutes with their per-channel normalisation).
    """
    if resize_filter not in RESIZE_FILTERS:
        raise ValueError(f"resize filter must be one of {RESIZE_FILTERS}, got {resize_filter!r}")
    height, width = frames.shape[-3:-1]
    if min(height, width) == short_side:
        return frames
    size = short_side_size(height, width, short_side, rounding)
    channels_first = frames.movedim(-1, -3)  # (..., C, H, W)
    if resize_filter == "antialias":
        resized = TF.resize(channels_first, list(size), antialias=True)
    else:
        planes = channels_first.reshape(-1, *channels_first.shape[-3:]).float()  # (N, C, H, W)
        scaled = torch.nn.functional.interpolate(planes, size=size, mode="bilinear", align_corners=False)
        resized = scaled.round_().clamp_(0, 255).to(torch.uint8).reshape(*channels_first.shape[:-2], *size)
    return resized.movedim(-3, -1).contiguous()


def crop(frames: torch.Tensor, top: int, left: int, size: int) -> torch.Tensor:
    """A ``size`` x ``size`` window of (..., H, W, C) frames (a view)."""
    return frames[..., top : top + size, left : left + size, :]


def _check_fits(frames: torch.Tensor, size: int) -> tuple[int, int]:
    height, width = frames.shape[-3:-1]
    if size > min(height, width):
        raise ValueError(f"crop {size} does not fit in frames of {height}x{width}")
    return height, width


def random_crop(frames: torch.Tensor, size: int, rng: np.random.Generator) -> torch.Tensor:
    """A square crop at a uniformly random position."""
    height, width = _check_fits(frames, size)
    top = int(rng.integers(0, height - size + 1))
    left = int(rng.integers(0, width - size + 1))
    return crop(frames, top, left, size)


CROP_STYLES = ("a2video", "ceil", "mmaction2")


def crop_offsets(height: int, width: int, size: int, num_crops: int, style: str = "a2video") -> list[tuple[int, int]]:
    """(top, left) of each test crop, in the protocol's order.

    ``a2video``: centre at ``(side - size) // 2``; 3 crops = start, centre, end of the long side.
    ``ceil`` (PySlowFast, pytorchvideo ``uniform_crop``): centre at ``ceil((side - size) / 2)``;
    start, centre, end. ``mmaction2``: ``CenterCrop`` floors; ``ThreeCrop`` is left/top, right/bottom at
    ``2 * step``, centre at ``step = (side - size) // 2``, in that order. Landscape (and square)
    frames are cut along the width, portrait ones along the height.
    """
    if style not in CROP_STYLES:
        raise ValueError(f"crop style must be one of {CROP_STYLES}, got {style!r}")
    if num_crops not in (1, 3):
        raise ValueError(f"num_crops must be 1 or 3, got {num_crops}")
    def centre(side: int) -> int:
        return -(-(side - size) // 2) if style == "ceil" else (side - size) // 2
    top, left = centre(height), centre(width)
    if num_crops == 1:
        return [(top, left)]
    along_width = width >= height
    side = width if along_width else height
    if style == "mmaction2":
        step = (side - size) // 2
        positions = (0, 2 * step, step)
    else:
        positions = (0, centre(side), side - size)
    return [(top, p) if along_width else (p, left) for p in positions]


def spatial_crops(frames: torch.Tensor, size: int, num_crops: int, style: str = "a2video") -> list[torch.Tensor]:
    """The test crops of (..., H, W, C) frames (views), placed by :func:`crop_offsets`."""
    height, width = _check_fits(frames, size)
    return [crop(frames, top, left, size) for top, left in crop_offsets(height, width, size, num_crops, style)]


def horizontal_flip(frames: torch.Tensor) -> torch.Tensor:
    """Mirrors (..., H, W, C) frames left-right."""
    return frames.flip(-2)


def to_channels_first(frames: torch.Tensor) -> torch.Tensor:
    """(T, H, W, C) -> contiguous (C, T, H, W)."""
    return frames.permute(3, 0, 1, 2).contiguous()


class TrainClipTransform:
    """Training augmentation: random short-side scale, random square crop, horizontal flip.

    The scale is drawn first (:meth:`sample_short_side`) so the decoder can resize to
    it; :meth:`__call__` then crops and flips.

    Args:
        scale_range: Inclusive range of the short side before cropping, e.g. (256, 320).
        crop_size: Side of the square crop, e.g. 224; at most ``scale_range[0]``.
        flip_probability: Chance of a horizontal flip.
    """

    def __init__(self, scale_range: tuple[int, int], crop_size: int, flip_probability: float = 0.5) -> None:
        low, high = scale_range
        if not 0 < crop_size <= low <= high:
            raise ValueError(f"need 0 < crop_size <= scale_range[0] <= scale_range[1], got {crop_size}, {scale_range}")
        self.scale_range = (low, high)
        self.crop_size = crop_size
        self.flip_probability = flip_probability

    def sample_short_side(self, rng: np.random.Generator) -> int:
        """Draws the short side for one clip."""
        return int(rng.integers(self.scale_range[0], self.scale_range[1] + 1))

    def __call__(self, frames: torch.Tensor, short_side: int, rng: np.random.Generator) -> torch.Tensor:
        """Transforms one clip.

        Args:
            frames: uint8 (T, H, W, C), ideally already at ``short_side``.
            short_side: The value drawn by :meth:`sample_short_side`.
            rng: Source of the crop position and flip.

        Returns:
            uint8 (C, T, crop, crop).
        """
        frames = random_crop(resize_short_side(frames, short_side), self.crop_size, rng)
        if rng.random() < self.flip_probability:
            frames = horizontal_flip(frames)
        return to_channels_first(frames)


class EvalClipTransform:
    """Test views: short-side resize, then 1 (centre) or 3 spatial crops per clip.

    Args:
        short_side: Short side after resizing, e.g. 256.
        crop_size: Side of each square crop (``short_side`` for the usual 3-crop test).
        num_crops: 1 or 3.
        crop_style: Where the crops go (:func:`crop_offsets`).
        rounding: How the long side is rounded (:func:`short_side_size`).
    """

    def __init__(self, short_side: int, crop_size: int, num_crops: int, crop_style: str = "a2video",
                 rounding: str = "round", resize_filter: str = "antialias") -> None:
        if not 0 < crop_size <= short_side:
            raise ValueError(f"need 0 < crop_size <= short_side, got {crop_size}, {short_side}")
        if num_crops not in (1, 3):
            raise ValueError(f"num_crops must be 1 or 3, got {num_crops}")
        self.short_side = short_side
        self.crop_size = crop_size
        self.num_crops = num_crops
        self.crop_style = crop_style
        self.rounding = rounding
        if resize_filter not in RESIZE_FILTERS:
            raise ValueError(f"resize filter must be one of {RESIZE_FILTERS}, got {resize_filter!r}")
        self.resize_filter = resize_filter

    def frame_size(self, height: int, width: int) -> tuple[int, int] | None:
        """(height, width) the decoder should resize displayed frames of ``height`` x ``width`` to;
        ``None`` (decode at the file's size) where the protocol's own filter resizes."""
        if self.resize_filter != "antialias":
            return None
        return short_side_size(height, width, self.short_side, self.rounding)

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        """Turns K clips (K, T, H, W, C) into views (K * num_crops, C, T, crop, crop), clip-major."""
        frames = resize_short_side(frames, self.short_side, self.rounding, self.resize_filter)
        views = torch.stack(spatial_crops(frames, self.crop_size, self.num_crops, self.crop_style), dim=1)  # (K, crops, T, h, w, C)
        views = views.flatten(0, 1)  # (V, T, h, w, C)
        return views.permute(0, 4, 1, 2, 3).contiguous()  # (V, C, T, h, w)


def normalize_video(
    video: torch.Tensor,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
) -> torch.Tensor:
    """uint8 video (..., C, T, H, W) -> float32 ``(x / 255 - mean) / std``, on ``video``'s device.

    Raises:
        TypeError: If ``video`` is not uint8 (normalising twice would be silent otherwise).
    """
    if video.dtype != torch.uint8:
        raise TypeError(f"expected a uint8 video, got {video.dtype}")
    scale = torch.tensor(std, device=video.device) * 255
    shift = torch.tensor(mean, device=video.device) * 255
    # Broadcast over (T, H, W) after the channel dimension.
    return (video.float() - shift.view(-1, 1, 1, 1)) / scale.view(-1, 1, 1, 1)
