"""Map-style datasets: random training clips, and multi-view evaluation of whole videos.

Batch contract (docs/DESIGN.md):

- train item: ``video`` uint8 (C, T, H, W), ``label`` int64, ``num_failed`` int64 (bad
  videos hit while drawing this item), ``failed_videos`` list of (path, reason);
  batch with :func:`collate_train`.
- eval item: ``video`` uint8 (V, C, T, H, W) with V = clips x crops (clip-major),
  ``label``, ``index`` (row in the list), ``ok`` and ``error``; ``torch``'s
  ``default_collate`` batches it.

Training randomness comes from a per-item seed that :class:`a2video.data.loader.EpochSampler`
draws in the main process from (seed, epoch, position). Augmentation therefore differs across
items and epochs, yet a run is reproducible and does not depend on the number of
workers or on which worker loads an item.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from a2video.data.decoding import Backend, VideoDecodeError, VideoInfo, check_backend, probe_video, read_frames
from a2video.data.lists import Sample
from a2video.data.clips import DEFAULT_CLIP, ClipSpec
from a2video.data.protocols import crop_style, eval_clip_indices, resize_filter, resize_rounding, train_clip_indices
from a2video.data.transforms import EvalClipTransform, TrainClipTransform, short_side_size
from a2video.errors import A2VideoError

MAX_LISTED_FAILURES = 20


class TooManyBadVideos(A2VideoError, RuntimeError):
    """More than the allowed fraction of the training videos could not be decoded."""

    def message(self) -> str:
        return str(self)  # keeps its list of paths, one per line


class BadVideoLog:
    """The distinct videos that failed to decode, and the limit on how many may.

    Args:
        total: Number of videos in the dataset.
        max_fraction: Largest allowed ``failed / total``; more raises.
    """

    def __init__(self, total: int, max_fraction: float) -> None:
        self.total = total
        self.max_fraction = max_fraction
        self.failed: dict[str, str] = {}

    def add(self, path: str, reason: str) -> bool:
        """Records a failure; returns True the first time this path fails."""
        if path in self.failed:
            return False
        self.failed[path] = reason
        return True

    def check(self) -> None:
        """Raises :class:`TooManyBadVideos`, listing the failures, when over the limit."""
        if len(self.failed) > self.max_fraction * self.total or len(self.failed) >= self.total:
            listed = [f"  {path}: {reason}" for path, reason in list(self.failed.items())[:MAX_LISTED_FAILURES]]
            more = len(self.failed) - len(listed)
            raise TooManyBadVideos(
                f"{len(self.failed)} of {self.total} training videos could not be decoded, more than the allowed "
                f"fraction {self.max_fraction:g}:\n" + "\n".join(listed) + (f"\n  ... and {more} more" if more else "")
            )


class _ListDataset(Dataset):
    """Shared by both datasets: the list, the video root and cached header probes."""

    def __init__(self, samples: Sequence[Sample], video_root: str | os.PathLike, clip: ClipSpec) -> None:
        self.samples = list(samples)
        self.video_root = str(video_root)
        self.clip = clip
        self._probes: dict[str, VideoInfo] = {}  # per process; persistent workers keep it across epochs

    def __len__(self) -> int:
        return len(self.samples)

    def video_path(self, index: int) -> str:
        """Full path of the video on row ``index`` of the list."""
        return os.path.join(self.video_root, self.samples[index][0])

    def _probe(self, path: str) -> VideoInfo:
        if path not in self._probes:
            self._probes[path] = probe_video(path)
        return self._probes[path]



class TrainVideoDataset(_ListDataset):
    """Random training clips; unreadable videos are replaced by other random videos.

    Args:
        samples: (path relative to ``video_root``, label) pairs.
        video_root: Folder the paths are relative to.
        clip: Frames per clip, stride, ``target_fps``, short videos, scale range and crop size.
        flip_probability: Chance of a horizontal flip (0 for classes defined by left/right direction).
        backend: Decoder (``"decord"`` and ``"torchcodec"`` fall back to PyAV per file).
        max_failed_fraction: Largest tolerated fraction of undecodable videos (this
            process's view; the DataModule also checks the total over all workers).
        seed: Seed for items requested by plain integer index.
        decode_threads: Decoder threads per item (1 inside workers).
        decode_device: ``"cpu"``, or ``"cuda"`` / ``"cuda:N"`` to decode with torchcodec on a GPU.

    Raises:
        ConfigError: If the backend or decoding device cannot be used here (torchcodec missing, no GPU).
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        video_root: str | os.PathLike,
        *,
        clip: ClipSpec = DEFAULT_CLIP,
        flip_probability: float = 0.5,
        backend: Backend = "decord",
        max_failed_fraction: float = 0.05,
        seed: int = 0,
        decode_threads: int = 1,
        decode_device: str = "cpu",
    ) -> None:
        check_backend(backend, decode_device)
        super().__init__(samples, video_root, clip)
        self.transform = TrainClipTransform(clip.train_scale_range, clip.crop_size, flip_probability)
        self.backend = backend
        self.seed = seed
        self.decode_threads = decode_threads
        self.decode_device = decode_device
        self.bad_videos = BadVideoLog(len(self.samples), max_failed_fraction)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        """Loads one clip.

        Args:
            key: ``(index, seed)`` from :class:`~a2video.data.loader.EpochSampler`, or a plain index
                (then the seed is derived from the dataset seed and the index).

        Raises:
            TooManyBadVideos: When the failures seen by this process pass the limit.
        """
        index, entropy = key if isinstance(key, tuple) else (key, [self.seed, key])
        rng = np.random.default_rng(entropy)
        failures: list[tuple[str, str]] = []
        while True:
            path = self.video_path(index)
            if path not in self.bad_videos.failed:
                try:
                    video = self._load_clip(path, rng)
                    break
                except VideoDecodeError as error:
                    self.bad_videos.add(path, error.reason)
            failures.append((path, self.bad_videos.failed[path]))
            self.bad_videos.check()
            index = self._draw_readable_index(rng)
        return {
            "video": video,
            "label": torch.tensor(self.samples[index][1], dtype=torch.int64),
            "num_failed": torch.tensor(len(failures), dtype=torch.int64),
            "failed_videos": failures,
        }

    def _load_clip(self, path: str, rng: np.random.Generator) -> torch.Tensor:
        info = self._probe(path)
        indices = train_clip_indices(self.clip, info, rng)  # (T,) frames of the file
        short_side = self.transform.sample_short_side(rng)
        size = short_side_size(info.height, info.width, short_side)
        frames = read_frames(path, indices, size, self.backend, num_threads=self.decode_threads, info=info,
                             device=self.decode_device)  # fmt: skip
        return self.transform(torch.from_numpy(frames), short_side, rng)  # frames: (T, H, W, C)

    def _draw_readable_index(self, rng: np.random.Generator) -> int:
        # Only called after a failure, so a linear scan is cheap enough.
        candidates = [i for i in range(len(self.samples)) if self.video_path(i) not in self.bad_videos.failed]
        return int(candidates[rng.integers(len(candidates))])


def collate_train(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Batches training items; ``failed_videos`` becomes one flat list for the batch."""
    return {
        "video": torch.stack([item["video"] for item in items]),  # (N, C, T, H, W)
        "label": torch.stack([item["label"] for item in items]),
        "num_failed": torch.stack([item["num_failed"] for item in items]),
        "failed_videos": [failure for item in items for failure in item["failed_videos"]],
    }


class EvalVideoDataset(_ListDataset):
    """All test views of one video per item; a video that fails is reported, never dropped.

    Args:
        samples: (path relative to ``video_root``, label) pairs.
        video_root: Folder the paths are relative to.
        clip: The clip, the protocol and the views (:class:`a2video.data.clips.ClipSpec`).
        stage: ``"test"`` or ``"val"``: which of the spec's clip and crop counts (and, for the
            peers' protocols, where validation clips start: :func:`~a2video.data.protocols.eval_clip_indices`).
        backend: Decoder (``"decord"`` and ``"torchcodec"`` fall back to PyAV per file).
        decode_threads: Decoder threads per item.
        decode_device: ``"cpu"``, or ``"cuda"`` / ``"cuda:N"`` to decode with torchcodec on a GPU.

    Raises:
        ConfigError: If the backend or decoding device cannot be used here (torchcodec missing, no GPU).
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        video_root: str | os.PathLike,
        *,
        clip: ClipSpec = DEFAULT_CLIP,
        stage: str = "test",
        backend: Backend = "decord",
        decode_threads: int = 1,
        decode_device: str = "cpu",
    ) -> None:
        check_backend(backend, decode_device)
        super().__init__(samples, video_root, clip)
        self.stage = stage
        self.num_clips, num_crops = clip.views(stage)
        self.transform = eval_transform(clip, num_crops)
        self.backend = backend
        self.decode_threads = decode_threads
        self.decode_device = decode_device

    @property
    def num_views(self) -> int:
        """Views per video: clips x crops."""
        return self.num_clips * self.transform.num_crops

    def __getitem__(self, index: int) -> dict[str, Any]:
        path = self.video_path(index)
        try:
            video, ok, error = self._load_views(path), True, ""
        except VideoDecodeError as failure:
            side = self.transform.crop_size
            video = torch.zeros((self.num_views, 3, self.clip.num_frames, side, side), dtype=torch.uint8)
            ok, error = False, failure.reason
        return {
            "video": video,  # (V, C, T, h, w)
            "label": torch.tensor(self.samples[index][1], dtype=torch.int64),
            "index": torch.tensor(index, dtype=torch.int64),
            "ok": torch.tensor(ok),
            "error": error,
        }

    def _load_views(self, path: str) -> torch.Tensor:
        info = self._probe(path)
        clips = eval_clip_indices(self.clip, info, self.num_clips, stage=self.stage)  # (K, T) frames of the file
        size = self.transform.frame_size(info.height, info.width)
        frames = read_frames(path, clips, size, self.backend, num_threads=self.decode_threads, info=info,
                             device=self.decode_device)  # fmt: skip
        return self.transform(torch.from_numpy(frames))  # frames: (K, T, H, W, C)


def eval_transform(clip: ClipSpec, num_crops: int) -> EvalClipTransform:
    """The resize and crops of ``clip``'s evaluation views, as its protocol places them."""
    return EvalClipTransform(clip.test_short_side, clip.eval_crop_size, num_crops, crop_style(clip.protocol),
                             resize_rounding(clip.protocol), resize_filter(clip.protocol))
