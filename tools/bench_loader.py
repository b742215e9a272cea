"""Training-loader throughput: a2video's VideoDataModule against pytorchvideo's LabeledVideoDataset.

Both read the same synthetic videos (320x240, 10 s, 25 fps, H.264 with a key frame
every 2 s) with decord, take 8 frames at stride 8 from a random position, scale the
short side to a random value in [256, 320], crop 224x224 at random and flip half the
clips, with the same number of workers and the same batch size. Each loader runs in
its own child process (pytorchvideo switches decord's global bridge to torch on
import), alternating, and the median of the repeats is reported.

pytorchvideo 0.1.5 is only a reference here; install it for the benchmark alone with
``pip install --no-deps pytorchvideo==0.1.5``. Its import chain needs ``iopath`` (not
installed) and ``torchvision.transforms.functional_tensor`` (removed from torchvision);
the child process stubs both before importing it, see :func:`_stub_pytorchvideo_imports`.

Usage::

    python tools/bench_loader.py [--videos 32] [--workers 2] [--batch-size 8] [--batches 40] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HEIGHT, WIDTH, FPS, SECONDS, KEY_FRAME_EVERY = 240, 320, 25, 10, 50
NUM_FRAMES, STRIDE, SCALE, CROP = 8, 8, (256, 320), 224


def render_video(seed: int) -> np.ndarray:
    """(250, 240, 320, 3) uint8: a panning gradient, a few moving discs and light noise."""
    rng = np.random.default_rng(seed)
    count = FPS * SECONDS
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    tint = rng.uniform(0.3, 1.0, size=3).astype(np.float32)
    discs = [(rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT), rng.uniform(-3, 3), rng.uniform(-2, 2),
              rng.uniform(15, 40), rng.uniform(0, 255, size=3)) for _ in range(4)]  # fmt: skip
    frames = np.empty((count, HEIGHT, WIDTH, 3), dtype=np.uint8)
    for t in range(count):
        shade = (np.sin((x + 2 * t) / 37) + np.cos((y - t) / 23)) * 60 + 128  # (H, W)
        frame = shade[..., None] * tint  # (H, W, 3)
        for cx, cy, vx, vy, radius, colour in discs:
            inside = (x - (cx + vx * t) % WIDTH) ** 2 + (y - (cy + vy * t) % HEIGHT) ** 2 < radius**2
            frame[inside] = colour
        frame += rng.normal(0, 3, size=frame.shape).astype(np.float32)
        frames[t] = np.clip(frame, 0, 255)
    return frames


def prepare_videos(folder: Path, count: int) -> list[tuple[str, int]]:
    """Writes the benchmark videos that are not there yet; returns (name, label) pairs."""
    from a2video.data.encoding import write_video

    samples = []
    for number in range(count):
        name = f"bench_{number:03d}.mp4"
        if not (folder / name).exists():
            write_video(folder / name, render_video(number), fps=FPS, gop_size=KEY_FRAME_EVERY)
        samples.append((name, number % 10))
    return samples


def _measure(batches, warmup: int, count: int, on_batch=None) -> dict[str, float]:
    """Times ``count`` batches after ``warmup`` batches (worker start-up excluded)."""
    iterator = iter(batches)
    start = time.perf_counter()
    for _ in range(warmup):
        next(iterator)
    first = time.perf_counter() - start
    clips, start = 0, time.perf_counter()
    for _ in range(count):
        batch = next(iterator)
        if on_batch is not None:
            batch = on_batch(batch)
        clips += batch["video"].shape[0]
    seconds = time.perf_counter() - start
    video = batch["video"]
    return {"clips": clips, "seconds": seconds, "clips_per_s": clips / seconds, "startup_s": first,
            "batch": f"{str(video.dtype).replace('torch.', '')} {tuple(video.shape)}"}  # fmt: skip


def _endless(make_loader):
    """Batches over as many epochs as needed."""
    while True:
        yield from make_loader()


def run_a2video(folder: Path, samples, args, normalise: bool) -> dict[str, float]:
    from a2video.data.lists import write_classes, write_list
    from a2video.engine.datamodule import VideoDataModule

    write_list(folder / "bench_train.txt", samples)
    write_classes(folder / "bench_classes.txt", [f"class{i}" for i in range(10)])
    data = VideoDataModule(
        str(folder), train_list=str(folder / "bench_train.txt"), classes_file=str(folder / "bench_classes.txt"),
        num_frames=NUM_FRAMES, sampling_rate=STRIDE, train_scale_range=SCALE, crop_size=CROP,
        batch_size=args.batch_size, num_workers=args.workers, persistent_workers=True,
    )  # fmt: skip
    loader = data.train_dataloader()
    # On a GPU, normalisation runs there after the copy; this variant charges it to the CPU.
    on_batch = (lambda batch: data.on_after_batch_transfer(batch, 0)) if normalise else None
    return _measure(_endless(lambda: loader), args.warmup, args.batches, on_batch)


def _stub_pytorchvideo_imports() -> None:
    """Lets ``pytorchvideo.data`` and ``pytorchvideo.transforms`` 0.1.5 import in this environment.

    - ``iopath.common.file_io.g_pathmgr``: pytorchvideo opens every file through it; for local
      paths it is the built-in ``open`` and ``os.path``, which is what the stub provides.
    - ``torchvision.transforms.functional_tensor``: renamed ``_functional_tensor`` in
      torchvision; only pytorchvideo's AugMix/RandAugment use it (not this benchmark).
    """
    import types

    import torchvision.transforms._functional_tensor as functional_tensor

    class LocalPathManager:
        open = staticmethod(open)
        exists = staticmethod(os.path.exists)
        isfile = staticmethod(os.path.isfile)
        isdir = staticmethod(os.path.isdir)
        ls = staticmethod(os.listdir)

    file_io = types.ModuleType("iopath.common.file_io")
    file_io.g_pathmgr = LocalPathManager()
    file_io.PathManager = LocalPathManager
    for name, module in (("iopath", types.ModuleType("iopath")), ("iopath.common", types.ModuleType("iopath.common")),
                         ("iopath.common.file_io", file_io)):  # fmt: skip
        sys.modules.setdefault(name, module)
    sys.modules.setdefault("torchvision.transforms.functional_tensor", functional_tensor)


def run_pytorchvideo(folder: Path, samples, args) -> dict[str, float]:
    _stub_pytorchvideo_imports()
    import torch
    from pytorchvideo.data import LabeledVideoDataset, make_clip_sampler
    from pytorchvideo.transforms import (
        ApplyTransformToKey,
        Normalize,
        RandomShortSideScale,
        UniformTemporalSubsample,
    )
    from torchvision.transforms import Compose, Lambda, RandomCrop, RandomHorizontalFlip

    # pytorchvideo samples clips by time: a window of 57 frames (the span of 8 frames at
    # stride 8) subsampled uniformly to 8 frames picks frames 0, 8, ..., 56 of the window.
    window_s = ((NUM_FRAMES - 1) * STRIDE + 1) / FPS
    transform = ApplyTransformToKey(
        key="video",
        transform=Compose([
            UniformTemporalSubsample(NUM_FRAMES),
            Lambda(lambda clip: clip / 255.0),
            Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
            RandomShortSideScale(min_size=SCALE[0], max_size=SCALE[1]),
            RandomCrop(CROP),
            RandomHorizontalFlip(p=0.5),
        ]),
    )  # fmt: skip
    dataset = LabeledVideoDataset(
        [(str(folder / name), {"label": label}) for name, label in samples],
        clip_sampler=make_clip_sampler("random", window_s),
        video_sampler=torch.utils.data.RandomSampler,
        transform=transform,
        decode_audio=False,
        decoder="decord",
    )
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=args.batch_size, num_workers=args.workers, persistent_workers=args.workers > 0
    )
    return _measure(_endless(lambda: loader), args.warmup, args.batches)


LOADERS = ("a2video", "a2video+cpu-normalise", "pytorchvideo")


def _child(args: argparse.Namespace) -> None:
    folder = Path(args.video_dir)
    samples = prepare_videos(folder, args.videos)
    if args.child == "pytorchvideo":
        result = run_pytorchvideo(folder, samples, args)
    else:
        result = run_a2video(folder, samples, args, normalise=args.child.endswith("normalise"))
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=32, help="number of benchmark videos")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers for both loaders")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=40, help="timed batches per run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches first (worker start-up)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per loader, alternating; median reported")
    parser.add_argument("--video-dir", default=os.path.join(tempfile.gettempdir(), "a2video_bench_videos"))
    parser.add_argument("--child", choices=LOADERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return

    Path(args.video_dir).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    prepare_videos(Path(args.video_dir), args.videos)
    print(f"{args.videos} videos {WIDTH}x{HEIGHT}, {SECONDS} s, {FPS} fps in {args.video_dir} "
          f"(ready in {time.perf_counter() - start:.0f} s)")  # fmt: skip
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in LOADERS}
    for repeat in range(args.repeats):
        for name in LOADERS:
            command = [sys.executable, __file__, "--child", name] + [
                f"--{key.replace('_', '-')}={value}" for key, value in vars(args).items() if key != "child"
            ]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            runs[name].append(json.loads(output.strip().splitlines()[-1]))
            print(f"  run {repeat + 1}/{args.repeats} {name:22s} {runs[name][-1]['clips_per_s']:6.1f} clips/s", flush=True)

    print(f"\nworkers={args.workers}, batch={args.batch_size}, {args.batches} timed batches, median of {args.repeats}")
    print("| loader | clips/s | s per batch | start-up s | batch video |\n|---|---:|---:|---:|---|")
    median = {name: statistics.median(run["clips_per_s"] for run in runs[name]) for name in LOADERS}
    for name in LOADERS:
        startup = statistics.median(run["startup_s"] for run in runs[name])
        shape = runs[name][-1]["batch"]
        print(f"| {name} | {median[name]:.1f} | {args.batch_size / median[name]:.3f} | {startup:.1f} | {shape} |")
    print(f"\nratio a2video / pytorchvideo: {median['a2video'] / median['pytorchvideo']:.2f}x "
          f"(with CPU normalisation: {median['a2video+cpu-normalise'] / median['pytorchvideo']:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
