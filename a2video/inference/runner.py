"""Views of videos (the test protocol's, or per time window) and a trained network run over them.

Frames are chosen, decoded and cropped by the data package (``EvalVideoDataset``,
``uniform_clip_indices``, ``read_frames``, ``EvalClipTransform``), so its fixes reach these commands.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader

from a2video.data.datasets import EvalVideoDataset
from a2video.data.decoding import BACKENDS, probe_video, read_frames
from a2video.data.sampling import uniform_clip_indices
from a2video.data.transforms import EvalClipTransform, short_side_size
from a2video.errors import ConfigError
from a2video.models.trained import TrainedModel
from a2video.threads import add_threads_argument


@dataclass(frozen=True)
class ViewSpec:
    """Clips × crops per video (or window) and their geometry."""

    num_frames: int
    sampling_rate: int
    num_clips: int
    num_crops: int
    short_side: int
    crop_size: int

    @property
    def num_views(self) -> int:
        return self.num_clips * self.num_crops


def add_view_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by predict and features: the model, its classes, the views, the decoder, the threads."""
    parser.add_argument("--checkpoint", "-c", required=True,
                        help="a2video checkpoint, known name (pytorchvideo:i3d_r50_k400) or another toolkit's file")
    parser.add_argument("--model", default=None, help="a2video model to build (default: the checkpoint's)")
    parser.add_argument("--classes", default=None, help="classes.txt when the checkpoint holds no class names")
    parser.add_argument("--clips", type=int, default=None, help="clips per video (default: the test protocol, 10)")
    parser.add_argument("--crops", type=int, default=None, choices=[1, 3], help="crops per clip (default 3)")
    parser.add_argument("--video-root", default=None, help="folder that list files' relative paths are under")
    parser.add_argument("--backend", default="decord", choices=list(BACKENDS))
    parser.add_argument("--workers", type=int, default=0, help="decoding processes (0: decode in this one)")
    parser.add_argument("--view-chunk", type=int, default=8, help="views per forward pass (bounds memory)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: a GPU when there is one)")
    add_threads_argument(parser)


def view_spec(trained: TrainedModel, args: argparse.Namespace) -> ViewSpec:
    """The checkpoint's clip settings with the views asked for (default: 10 clips × 3 crops)."""
    p = trained.preprocessing
    spec = ViewSpec(p.num_frames, p.sampling_rate, 10 if args.clips is None else args.clips,
                    3 if args.crops is None else args.crops, p.test_short_side, p.test_crop_size)
    if spec.num_clips < 1:
        raise ConfigError(f"--clips must be >= 1, got {spec.num_clips}")
    return spec


def pick_device(name: str | None) -> torch.device:
    if name:
        try:
            device = torch.device(name)
        except RuntimeError as error:
            raise ConfigError(f"--device {name}: {' '.join(str(error).split())}") from None
        if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
            found = torch.cuda.device_count() if torch.cuda.is_available() else 0
            raise ConfigError(f"--device {name}: this machine has {found} usable CUDA GPU(s); use --device cpu")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def video_views(paths: list[str], spec: ViewSpec, *, backend: str,
                workers: int) -> Iterator[tuple[str, torch.Tensor | None, str]]:
    """``(path, uint8 views (V, C, T, h, w) or None, error)`` per video, in order."""
    dataset = EvalVideoDataset([(path, 0) for path in paths], "", num_frames=spec.num_frames,
                               sampling_rate=spec.sampling_rate, num_clips=spec.num_clips, num_crops=spec.num_crops,
                               short_side=spec.short_side, crop_size=spec.crop_size, backend=backend,
                               decode_threads=1 if workers else 0)
    loader = DataLoader(dataset, batch_size=None, num_workers=workers)  # one video per item, in list order
    for path, item in zip(paths, loader):
        yield path, (item["video"] if bool(item["ok"]) else None), item["error"]


def window_views(path: str, spec: ViewSpec, *, window: float, stride: float,
                 backend: str) -> Iterator[tuple[float, float, torch.Tensor]]:
    """``(start s, end s, uint8 views)`` for each window of ``window`` seconds, every ``stride`` seconds;
    the test protocol's clips are spread over each window.

    Raises:
        VideoDecodeError: the video cannot be read.
    """
    info = probe_video(path)
    fps = info.fps or 25.0
    window_frames = max(1, int(round(window * fps)))
    step = max(1, int(round(stride * fps)))
    last_start = max(0, info.num_frames - window_frames)
    starts = list(range(0, last_start + 1, step))
    transform = EvalClipTransform(spec.short_side, spec.crop_size, spec.num_crops)
    size = short_side_size(info.height, info.width, spec.short_side)
    for start in starts:
        length = min(window_frames, info.num_frames - start)
        indices = start + uniform_clip_indices(length, spec.num_frames, spec.sampling_rate, spec.num_clips)  # (K, T)
        frames = read_frames(path, indices, size, backend)  # (K, T, H, W, C)
        yield start / fps, (start + length) / fps, transform(torch.from_numpy(frames))


class Scorer:
    """Runs a trained network over uint8 views; keeps the time spent in forward passes."""

    def __init__(self, trained: TrainedModel, device: torch.device, view_chunk: int) -> None:
        self.trained = trained
        self.device = device
        self.view_chunk = max(1, view_chunk)
        self.net = trained.net.to(device).eval()
        self.forward_seconds = 0.0
        self.forward_views = 0

    @torch.no_grad()
    def _run(self, views: torch.Tensor, features: bool) -> np.ndarray:
        outputs = []
        for i in range(0, views.shape[0], self.view_chunk):
            chunk = views[i : i + self.view_chunk].to(self.device)
            clips = self.trained.preprocessing.normalize(chunk)  # (v, C, T, H, W) float
            start = time.perf_counter()
            if features:
                out = self.net.forward_head(self.net.forward_features(clips), pre_logits=True)  # (v, F)
            else:
                out = self.net(clips)  # (v, K)
            outputs.append(out.float().cpu())
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            self.forward_seconds += time.perf_counter() - start
            self.forward_views += clips.shape[0]
        return torch.cat(outputs).numpy()

    def logits(self, views: torch.Tensor) -> np.ndarray:
        """uint8 (V, C, T, H, W) → (V, K) logits."""
        return self._run(views, features=False)

    def features(self, views: torch.Tensor) -> np.ndarray:
        """uint8 (V, C, T, H, W) → (V, F) pre-logit embeddings (pooled, before dropout and classifier)."""
        return self._run(views, features=True)

    def seconds_per_view(self) -> float:
        return self.forward_seconds / max(1, self.forward_views)
