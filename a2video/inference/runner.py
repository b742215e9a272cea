"""Views of videos (the test protocol's, or per time window) and a trained network run over them.

Frames are chosen, decoded and cropped by the data package (``EvalVideoDataset``,
``uniform_clip_indices``, ``read_frames``, ``EvalClipTransform``), so its fixes reach these commands.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader

from a2video.data.clips import PLACEMENTS, PROTOCOLS, SHORT_VIDEOS, ClipSpec, ClipSpecError
from a2video.data.datasets import EvalVideoDataset, eval_transform
from a2video.data.decoding import BACKENDS, probe_video, read_frames
from a2video.data.sampling import uniform_clip_indices
from a2video.errors import ConfigError, one_line
from a2video.models.forward import forward_in_chunks
from a2video.models.trained import TrainedModel
from a2video.threads import add_threads_argument


# Clip settings a command may change on top of the checkpoint's (the data section's names, with dashes).
CLIP_OPTIONS: dict[str, dict] = {
    "num_frames": {"type": int}, "sampling_rate": {"type": int}, "target_fps": {"type": float},
    "protocol": {"choices": PROTOCOLS}, "test_clip_placement": {"choices": PLACEMENTS},
    "short_video": {"choices": SHORT_VIDEOS}, "test_short_side": {"type": int},
    "test_crop_size": {"type": int}, "test_clips": {"type": int, "aliases": ["--clips"]},
    "test_crops": {"type": int, "choices": [1, 3], "aliases": ["--crops"]},
}


def add_checkpoint_argument(parser: argparse.ArgumentParser) -> None:
    """``--checkpoint`` / ``-c``, spelled so on every command (``--ckpt`` and ``--ckpt_path`` also work)."""
    parser.add_argument("--checkpoint", "-c", "--ckpt", "--ckpt_path", dest="checkpoint", required=True,
                        help="a2video checkpoint, known name (pytorchvideo:i3d_r50_k400) or another toolkit's file")


def add_clip_arguments(parser: argparse.ArgumentParser, names: tuple[str, ...] = tuple(CLIP_OPTIONS),
                       aliases: dict[str, list[str]] | None = None) -> None:
    """Options that change the checkpoint's clip spec; by default the views are sampled as its ``test`` was."""
    group = parser.add_argument_group("clips (default: as the checkpoint's test run sampled them)")
    for name in names:
        options = dict(CLIP_OPTIONS[name])
        flags = [f"--{name.replace('_', '-')}", *options.pop("aliases", []), *(aliases or {}).get(name, [])]
        group.add_argument(*flags, dest=name, default=None, help=f"data.{name}", **options)


def add_view_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by predict and features: the model, its classes, the views, the decoder, the threads."""
    add_checkpoint_argument(parser)
    parser.add_argument("--model", default=None, help="a2video model to build (default: the checkpoint's)")
    parser.add_argument("--classes", default=None, help="classes.txt when the checkpoint holds no class names")
    add_clip_arguments(parser)
    parser.add_argument("--video-root", default=None, help="folder that list files' relative paths are under")
    parser.add_argument("--backend", default="decord", choices=list(BACKENDS))
    parser.add_argument("--workers", type=int, default=0, help="decoding processes (0: decode in this one)")
    parser.add_argument("--view-chunk", type=int, default=8, help="views per forward pass (bounds memory)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: a GPU when there is one)")
    add_threads_argument(parser)


def view_spec(trained: TrainedModel | ClipSpec, args: argparse.Namespace) -> ClipSpec:
    """The checkpoint's clip spec (how its test sampled), or a given one, with the options given on
    the command line."""
    base = trained if isinstance(trained, ClipSpec) else trained.clip
    changes = {name: getattr(args, name, None) for name in CLIP_OPTIONS}
    try:
        return base.with_values(**changes)
    except ClipSpecError as error:
        given = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in changes.items() if v is not None)
        raise ConfigError(f"{error} ({given or 'the clip settings saved in the checkpoint'})") from None


def pick_device(name: str | None) -> torch.device:
    if name:
        try:
            device = torch.device(name)
        except RuntimeError as error:
            raise ConfigError(f"--device {name}: {one_line(error)}") from None
        if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
            found = torch.cuda.device_count() if torch.cuda.is_available() else 0
            raise ConfigError(f"--device {name}: this machine has {found} usable CUDA GPU(s); use --device cpu")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def video_views(paths: list[str], spec: ClipSpec, *, backend: str,
                workers: int) -> Iterator[tuple[str, torch.Tensor | None, str]]:
    """``(path, uint8 views (V, C, T, h, w) or None, error)`` per video, in order: ``a2video test``'s views."""
    dataset = EvalVideoDataset([(path, 0) for path in paths], "", clip=spec, stage="test", backend=backend,
                               decode_threads=1 if workers else 0)
    loader = DataLoader(dataset, batch_size=None, num_workers=workers)  # one video per item, in list order
    for path, item in zip(paths, loader):
        yield path, (item["video"] if bool(item["ok"]) else None), item["error"]


def window_views(path: str, spec: ClipSpec, *, window: float, stride: float,
                 backend: str) -> Iterator[tuple[float, float, torch.Tensor]]:
    """``(start s, end s, uint8 views)`` for each window of ``window`` seconds, every ``stride`` seconds;
    the spec's test clips are spread over each window by the a2video protocol (stride clips,
    ``even`` placement on the file's frames), cropped and resized as the spec's protocol does.

    Raises:
        VideoDecodeError: the video cannot be read.
    """
    info = probe_video(path)
    fps = info.fps or 25.0
    window_frames = max(1, int(round(window * fps)))
    step = max(1, int(round(stride * fps)))
    last_start = max(0, info.num_frames - window_frames)
    starts = list(range(0, last_start + 1, step))
    num_clips, num_crops = spec.views("test")
    transform = eval_transform(spec, num_crops)
    size = transform.frame_size(info.height, info.width)
    for start in starts:
        length = min(window_frames, info.num_frames - start)
        indices = start + uniform_clip_indices(length, spec.num_frames, spec.sampling_rate, num_clips)  # (K, T)
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
        def forward(chunk: torch.Tensor) -> torch.Tensor:
            clips = self.trained.preprocessing.normalize(chunk.to(self.device))  # (v, C, T, H, W) float
            start = time.perf_counter()
            if features:
                out = self.net.forward_head(self.net.forward_features(clips), pre_logits=True)  # (v, F)
            else:
                out = self.net(clips)  # (v, K)
            out = out.float().cpu()  # waits for the device
            self.forward_seconds += time.perf_counter() - start
            self.forward_views += clips.shape[0]
            return out

        return forward_in_chunks(forward, views, self.view_chunk).numpy()

    def logits(self, views: torch.Tensor) -> np.ndarray:
        """uint8 (V, C, T, H, W) → (V, K) logits."""
        return self._run(views, features=False)

    def features(self, views: torch.Tensor) -> np.ndarray:
        """uint8 (V, C, T, H, W) → (V, F) pre-logit embeddings (pooled, before dropout and classifier)."""
        return self._run(views, features=True)

    def seconds_per_view(self) -> float:
        return self.forward_seconds / max(1, self.forward_views)
