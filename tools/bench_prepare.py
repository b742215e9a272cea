"""Training-loader speed on raw 720p videos against the same videos after ``a2video prepare``.

Everything runs in one process tree in one go, raw and prepared alternating, so that the ratios
compare numbers measured under the same machine load:

1. Renders ``--videos`` raw videos like the YouTube files behind Kinetics: 1280x720, 30 fps,
   10 s, H.264 (x264 CRF 23, ``veryfast``) with a key frame every 250 frames; a textured
   background panning, moving discs and camera-like noise. Kept in ``--video-dir`` for later runs.
2. Prepares them with ``a2video.data.prepare`` (short side 320, a key frame every 16 frames;
   the command's defaults), timing it, and a second copy with the short side only (key frame
   every 250 frames, like the source) to tell the two effects apart.
3. Per core: one process, one decoder thread, ``TrainVideoDataset`` items (8 frames at stride 8
   from a random position, short side random in [256, 320], random 224 crop, flip) with the same
   (video, seed) sequence on every set, so every set decodes the same frames at the same sizes.
4. Loader scaling: ``VideoDataModule.train_dataloader()`` with 1, 2, ... workers (batch
   ``--batch-size``), raw and prepared, clips per second after a warm-up.

Usage::

    python tools/bench_prepare.py [--videos 8] [--clips 48] [--workers 1 2] [--batches 8] [--repeats 3]
        [--gpu-clips-per-s 600] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HEIGHT, WIDTH, FPS, SECONDS, RAW_GOP = 720, 1280, 30, 10, 250
NUM_FRAMES, STRIDE, SCALE, CROP = 8, 8, (256, 320), 224


def render_raw_frames(seed: int):
    """Yields (720, 1280, 3) uint8 frames: a panning texture, moving discs and per-frame noise."""
    rng = np.random.default_rng(seed)
    canvas_h, canvas_w = HEIGHT + 200, WIDTH + 400
    y, x = np.mgrid[0:canvas_h, 0:canvas_w].astype(np.float32)
    canvas = np.full((canvas_h, canvas_w, 3), 110, np.float32)
    for _ in range(16):  # coarse shading and fine stripes, like a real scene's detail
        fy, fx = rng.uniform(0.002, 0.12, size=2)
        canvas += np.sin(x * fx + y * fy + rng.uniform(0, 6.3))[..., None] * rng.uniform(4, 22, size=3).astype(np.float32)
    noise = [rng.normal(0, 5, size=(HEIGHT, WIDTH, 3)).astype(np.float32) for _ in range(6)]
    discs = [(rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT), rng.uniform(-8, 8), rng.uniform(-5, 5),
              rng.uniform(40, 120), rng.uniform(0, 255, size=3)) for _ in range(5)]  # fmt: skip
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
    for t in range(FPS * SECONDS):
        top, left = int(100 + 90 * np.sin(t / 70)), int(200 + 190 * np.sin(t / 50))
        frame = canvas[top : top + HEIGHT, left : left + WIDTH].copy()  # (H, W, 3)
        for cx, cy, vx, vy, radius, colour in discs:
            px, py = (cx + vx * t) % WIDTH, (cy + vy * t) % HEIGHT
            y0, y1 = int(max(py - radius, 0)), int(min(py + radius, HEIGHT))
            x0, x1 = int(max(px - radius, 0)), int(min(px + radius, WIDTH))
            inside = (cols[y0:y1, x0:x1] - px) ** 2 + (rows[y0:y1, x0:x1] - py) ** 2 < radius**2
            frame[y0:y1, x0:x1][inside] = colour
        frame += noise[int(rng.integers(len(noise)))]
        yield np.clip(frame, 0, 255).astype(np.uint8)


def _write_raw(path: str, seed: int) -> None:
    from a2video.data.encoding import write_video

    write_video(path, render_raw_frames(seed), fps=FPS, gop_size=RAW_GOP, crf=23, preset="veryfast")


def make_raw_videos(folder: Path, count: int, workers: int) -> list[tuple[str, int]]:
    """Writes the raw videos that are not there yet; returns (name, label) pairs and classes.txt."""
    from a2video.data.lists import write_classes, write_list

    samples = [(f"raw_{number:03d}.mp4", number % 4) for number in range(count)]
    missing = [(str(folder / name), number) for number, (name, _) in enumerate(samples) if not (folder / name).exists()]
    if missing:
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_write_raw, *zip(*missing)))
    write_list(folder / "train.txt", samples)
    write_classes(folder / "classes.txt", [f"class{i}" for i in range(4)])
    return samples


def prepare_copy(raw: Path, out: Path, gop: int, workers: int) -> float:
    """Prepares ``raw`` into ``out`` (skipped when done); returns seconds per video per worker."""
    from a2video.data.prepare import PrepareSettings, prepare_dataset

    start = time.perf_counter()
    summary = prepare_dataset(raw, out, PrepareSettings(gop=gop), lists=[str(raw / "train.txt")], workers=workers,
                              progress=False)  # fmt: skip
    seconds = time.perf_counter() - start
    return seconds * workers / summary.prepared if summary.prepared else float("nan")


def clips_per_second_one_core(root: Path, samples, clips: int, seed: int) -> float:
    """Clips/s of ``TrainVideoDataset`` items in this process with one decoder thread."""
    from a2video.data.datasets import TrainVideoDataset

    dataset = TrainVideoDataset(samples, root, num_frames=NUM_FRAMES, sampling_rate=STRIDE, scale_range=SCALE,
                                crop_size=CROP, decode_threads=1)  # fmt: skip
    for index in range(len(samples)):  # untimed: headers cached and files in the page cache, as after epoch 1
        dataset[(index, seed)]
    rng = np.random.default_rng(seed)
    keys = [(int(rng.integers(len(samples))), int(rng.integers(2**62))) for _ in range(clips)]
    start = time.perf_counter()
    for key in keys:
        dataset[key]
    return clips / (time.perf_counter() - start)


def loader_clips_per_second(root: Path, workers: int, batch_size: int, batches: int) -> float:
    """Clips/s delivered by ``VideoDataModule.train_dataloader()`` after ``workers`` warm-up batches."""
    from a2video.engine.datamodule import VideoDataModule

    data = VideoDataModule(str(root), train_list=str(root / "train.txt"), classes_file=str(root / "classes.txt"),
                           num_frames=NUM_FRAMES, sampling_rate=STRIDE, train_scale_range=SCALE, crop_size=CROP,
                           batch_size=batch_size, num_workers=workers, pin_memory=False)  # fmt: skip
    loader = data.train_dataloader()

    def endless():
        while True:
            yield from loader

    batches_iter = endless()
    for _ in range(max(workers, 1)):  # every worker has started and delivered once
        next(batches_iter)
    start = time.perf_counter()
    clips = sum(next(batches_iter)["video"].shape[0] for _ in range(batches))
    rate = clips / (time.perf_counter() - start)
    del batches_iter, loader
    return rate


def _load() -> str:
    return "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=8, help="raw 720p videos (rendering takes ~40 s each)")
    parser.add_argument("--clips", type=int, default=48, help="clips per one-core measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="DataLoader worker counts")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--batches", type=int, default=8, help="timed batches per loader measurement")
    parser.add_argument("--repeats", type=int, default=3, help="rounds, sets alternating; median reported")
    parser.add_argument("--gpu-clips-per-s", type=float, nargs="*", default=[],
                        help="GPU training rates to turn into cores needed")  # fmt: skip
    parser.add_argument("--video-dir", default=os.path.join(tempfile.gettempdir(), "a2video_bench_prepare"))
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    base = Path(args.video_dir)
    sets = {"raw": base / "raw", "prepared": base / "prepared_320_gop16", "resized only": base / "resized_320_gop250"}
    print(f"{cores} cores, {_load()}", flush=True)

    start = time.perf_counter()
    samples = make_raw_videos(sets["raw"], args.videos, cores)
    raw_bytes = sum((sets["raw"] / name).stat().st_size for name, _ in samples) / len(samples)
    print(f"{len(samples)} raw videos {WIDTH}x{HEIGHT}, {FPS} fps, {SECONDS} s, key frame every {RAW_GOP}: "
          f"{raw_bytes * 8 / SECONDS / 1e6:.2f} Mbit/s ({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip
    prepare_cost = prepare_copy(sets["raw"], sets["prepared"], 16, cores)
    prepare_copy(sets["raw"], sets["resized only"], RAW_GOP, cores)
    prepared_samples = [(str(Path(name).with_suffix(".mp4")), label) for name, label in samples]
    print(f"prepare: {prepare_cost:.1f} s per video per worker ({cores} workers; nan = prepared by an earlier run)", flush=True)

    one_core: dict[str, list[float]] = {name: [] for name in sets}
    loader: dict[tuple[str, int], list[float]] = {(name, w): [] for name in ("raw", "prepared") for w in args.workers}
    for repeat in range(args.repeats):
        for name, root in sets.items():
            one_core[name].append(clips_per_second_one_core(root, prepared_samples if name != "raw" else samples,
                                                            args.clips, seed=repeat))  # fmt: skip
            print(f"  round {repeat + 1} one core {name:13s} {one_core[name][-1]:6.2f} clips/s  ({_load()})", flush=True)
        for workers in args.workers:
            for name in ("raw", "prepared"):
                rate = loader_clips_per_second(sets[name], workers, args.batch_size, args.batches)
                loader[name, workers].append(rate)
                print(f"  round {repeat + 1} loader {workers} worker(s) {name:9s} {rate:6.2f} clips/s  ({_load()})", flush=True)

    median = {name: statistics.median(rates) for name, rates in one_core.items()}
    print(f"\nOne core (one process, one decoder thread), {args.clips} clips per round, median of {args.repeats}:")
    print("| videos | clips/s per core | ms per clip | vs raw |\n|---|---:|---:|---:|")
    for name in sets:
        print(f"| {name} | {median[name]:.2f} | {1000 / median[name]:.0f} | {median[name] / median['raw']:.1f}x |")
    print(f"\nLoader (VideoDataModule.train_dataloader, batch {args.batch_size}, {args.batches} timed batches), median of {args.repeats}:")
    print("| workers | raw clips/s | prepared clips/s | prepared / raw | prepared vs 1 worker |\n|---:|---:|---:|---:|---:|")
    loader_median = {key: statistics.median(rates) for key, rates in loader.items()}
    first = args.workers[0]
    for workers in args.workers:
        raw, prepared = loader_median["raw", workers], loader_median["prepared", workers]
        print(f"| {workers} | {raw:.2f} | {prepared:.2f} | {prepared / raw:.1f}x | {prepared / loader_median['prepared', first]:.2f}x |")
    for gpu in args.gpu_clips_per_s:
        print(f"GPU at {gpu:.0f} clips/s needs {gpu / median['prepared']:.0f} cores on prepared videos, "
              f"{gpu / median['raw']:.0f} on raw ones (per-core rates above)")  # fmt: skip
    print(f"\n{_load()}")
    if args.json:
        figures = {"one_core": one_core, "loader": {f"{name}/{w}": rates for (name, w), rates in loader.items()},
                   "prepare_seconds_per_video_per_worker": prepare_cost, "raw_mbit_per_s": raw_bytes * 8 / SECONDS / 1e6}  # fmt: skip
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
