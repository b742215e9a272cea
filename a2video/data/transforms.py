"""Spatial clip transforms on uint8 frames, and ImageNet normalisation on the device.

Decoded frames are (T, H, W, C) uint8. The transforms crop and flip in that layout
(slicing, no copies) and end with one permute to the model's (C, T, H, W). Resizing
normally happens inside the decoder; :func:`resize_short_side` is for frames that
did not come out at the size asked for.
"""

from __future__ import annotations

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def short_side_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) after scaling so that the shorter side is ``short_side``."""
    scale = short_side / min(height, width)
    if height <= width:
        return short_side, max(short_side, int(round(width * scale)))
    return max(short_side, int(round(height * scale))), short_side


def resize_short_side(frames: torch.Tensor, short_side: int) -> torch.Tensor:
    """Resizes (..., H, W, C) uint8 frames so the shorter side is ``short_side`` (no-op if it is)."""
    height, width = frames.shape[-3:-1]
    if min(height, width) == short_side:
        return frames
    size = short_side_size(height, width, short_side)
    channels_first = frames.movedim(-1, -3)  # (..., C, H, W)
    resized = TF.resize(channels_first, list(size), antialias=True)
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


def spatial_crops(frames: torch.Tensor, size: int, num_crops: int) -> list[torch.Tensor]:
    """Test crops: 1 = centre; 3 = start/centre/end of the long side, centred on the short side.

    Landscape frames give left/centre/right crops, portrait frames top/centre/bottom.
    """
    height, width = _check_fits(frames, size)
    centre_top, centre_left = (height - size) // 2, (width - size) // 2
    if num_crops == 1:
        return [crop(frames, centre_top, centre_left, size)]
    if num_crops != 3:
        raise ValueError(f"num_crops must be 1 or 3, got {num_crops}")
    if width >= height:
        return [crop(frames, centre_top, left, size) for left in (0, centre_left, width - size)]
    return [crop(frames, top, centre_left, size) for top in (0, centre_top, height - size)]


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
    """

    def __init__(self, short_side: int, crop_size: int, num_crops: int) -> None:
        if not 0 < crop_size <= short_side:
            raise ValueError(f"need 0 < crop_size <= short_side, got {crop_size}, {short_side}")
        if num_crops not in (1, 3):
            raise ValueError(f"num_crops must be 1 or 3, got {num_crops}")
        self.short_side = short_side
        self.crop_size = crop_size
        self.num_crops = num_crops

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        """Turns K clips (K, T, H, W, C) into views (K * num_crops, C, T, crop, crop), clip-major."""
        frames = resize_short_side(frames, self.short_side)
        views = torch.stack(spatial_crops(frames, self.crop_size, self.num_crops), dim=1)  # (K, crops, T, h, w, C)
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
