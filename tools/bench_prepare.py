"""Training-loader speed on raw 720p videos against the same videos after ``a2video prepare``.

Everything runs in one process tree in one go, raw and prepared alternating, so that the ratios
compare numbers measured under the same machine load:

1. Renders ``--videos`` raw videos like the YouTube files behind Kinetics: 1280x720, 30 fps,
   10 s, H.264 (x264 CRF 23, ``veryfast``) with a key frame every 250 frames; a textured
   background panning, moving discs and camera-like noise. Kept in ``--video-dir`` for later runs.
2. Prepares them with ``a2video.preparation.prepare`` (short side 320, a key frame every 16 frames;
   the command's defaults), timing it, and a second copy with the short side only (key frame
   every 250 frames, like the source) to tell the two effects apart.
3. Per core: one process, one decoder thread, ``TrainVideoDataset`` items (8 frames at stride 8
   from a random position, short side random in [256, 320], random 224 crop, flip) with the same
   (video, seed) sequence on every set, so every set decodes the same frames at the same sizes;
   the sets take turns clip by clip. Reported as clips per CPU-second (the per-core rate, which
   other jobs on the machine barely change) and as wall-clock clips/s.
4. Loader scaling: ``VideoDataModule.train_dataloader()`` with 1, 2, ... workers (batch
   ``--batch-size``), raw and prepared, after a warm-up: clips per wall second, and clips per
   CPU-second of the worker processes (read from /proc; constant across worker counts = the
   loader itself adds no per-worker overhead, so it scales with the cores it is given).

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


def prepare_copy(raw: Path, out: Path, gop: int, workers: int) -> None:
    """Prepares ``raw`` into ``out`` with the default settings but ``gop`` (skipped when done)."""
    from a2video.preparation.prepare import PrepareSettings, prepare_dataset

    prepare_dataset(raw, out, PrepareSettings(gop=gop), lists=[str(raw / "train.txt")], workers=workers, progress=False)


def prepare_cost(raw: Path, samples, count: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) per video of ``a2video prepare``'s defaults, in this process."""
    from a2video.preparation.transcode import PrepareSettings, prepare_video

    cpu, wall = time.process_time(), time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        for name, _ in samples[:count]:
            result = prepare_video(raw / name, Path(scratch, name), name, PrepareSettings(), min_frames=1)
            assert result.status == "prepared", result
    return (time.process_time() - cpu) / count, (time.perf_counter() - wall) / count


def one_core_seconds(sets: dict[str, tuple[Path, list]], clips: int, seed: int) -> dict[str, tuple[float, float]]:
    """Per set: (CPU seconds, wall seconds) of ``clips`` ``TrainVideoDataset`` items in this process.

    The sets take turns clip by clip, on the same (video, seed) keys, so a change in the machine's
    load hits all of them alike. CPU time (all threads of this process) is the per-core cost and
    barely depends on what else runs on the machine; wall time does.
    """
    from a2video.data.clips import ClipSpec
    from a2video.data.datasets import TrainVideoDataset

    clip = ClipSpec(num_frames=NUM_FRAMES, sampling_rate=STRIDE, train_scale_range=SCALE, crop_size=CROP)
    datasets = {
        name: TrainVideoDataset(samples, root, clip=clip, decode_threads=1)
        for name, (root, samples) in sets.items()
    }
    count = len(next(iter(sets.values()))[1])
    for dataset in datasets.values():  # untimed: headers cached and files in the page cache, as after epoch 1
        for index in range(count):
            dataset[(index, seed)]
    rng = np.random.default_rng(seed)
    keys = [(int(rng.integers(count)), int(rng.integers(2**62))) for _ in range(clips)]
    spent = {name: [0.0, 0.0] for name in sets}
    for key in keys:
        for name, dataset in datasets.items():
            cpu, wall = time.process_time(), time.perf_counter()
            dataset[key]
            spent[name][0] += time.process_time() - cpu
            spent[name][1] += time.perf_counter() - wall
    return {name: (cpu, wall) for name, (cpu, wall) in spent.items()}


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes, from /proc (Linux)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def loader_rate(root: Path, workers: int, batch_size: int, batches: int) -> tuple[float, float]:
    """(clips per wall second, clips per worker CPU second) of ``VideoDataModule.train_dataloader()``.

    Timed after one batch per worker (every worker started and delivered once). The second
    figure is what the workers would deliver per core if they had the cores to themselves.
    """
    import multiprocessing

    from a2video.engine.datamodule import VideoDataModule

    data = VideoDataModule(str(root), train_list=str(root / "train.txt"), classes_file=str(root / "classes.txt"),
                           num_frames=NUM_FRAMES, sampling_rate=STRIDE, train_scale_range=SCALE, crop_size=CROP,
                           batch_size=batch_size, num_workers=workers, pin_memory=False)  # fmt: skip
    loader = data.train_dataloader()

    def endless():
        while True:
            yield from loader

    batches_iter = endless()
    for _ in range(max(workers, 1)):
        next(batches_iter)
    pids = [child.pid for child in multiprocessing.active_children()]
    cpu, wall = _cpu_seconds(pids), time.perf_counter()
    clips = sum(next(batches_iter)["video"].shape[0] for _ in range(batches))
    wall, cpu = time.perf_counter() - wall, _cpu_seconds(pids) - cpu
    del batches_iter, loader
    return clips / wall, clips / cpu


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
    prepare_copy(sets["raw"], sets["prepared"], 16, cores)
    prepare_copy(sets["raw"], sets["resized only"], RAW_GOP, cores)
    prepared_samples = [(str(Path(name).with_suffix(".mp4")), label) for name, label in samples]
    cost = prepare_cost(sets["raw"], samples, min(2, len(samples)))
    print(f"prepare (defaults, one process): {cost[0]:.1f} CPU-s per video, {cost[1]:.1f} s wall ({_load()})", flush=True)

    inputs = {name: (root, prepared_samples if name != "raw" else samples) for name, root in sets.items()}
    one_core: dict[str, list[tuple[float, float]]] = {name: [] for name in sets}
    loader: dict[tuple[str, int], list[tuple[float, float]]] = {(n, w): [] for n in ("raw", "prepared") for w in args.workers}
    for repeat in range(args.repeats):
        for name, seconds in one_core_seconds(inputs, args.clips, seed=repeat).items():
            one_core[name].append(seconds)
            print(f"  round {repeat + 1} one core {name:13s} {args.clips / seconds[0]:6.2f} clips/CPU-s "
                  f"{args.clips / seconds[1]:6.2f} clips/s  ({_load()})", flush=True)  # fmt: skip
        for workers in args.workers:
            for name in ("raw", "prepared"):
                loader[name, workers].append(loader_rate(sets[name], workers, args.batch_size, args.batches))
                wall_rate, cpu_rate = loader[name, workers][-1]
                print(f"  round {repeat + 1} loader {workers} worker(s) {name:9s} {wall_rate:6.2f} clips/s "
                      f"{cpu_rate:6.2f} clips/worker-CPU-s  ({_load()})", flush=True)  # fmt: skip

    # Rates from the summed seconds of all rounds: each round weighs by the clips it measured.
    per_cpu = {name: args.clips * len(runs) / sum(cpu for cpu, _ in runs) for name, runs in one_core.items()}
    per_wall = {name: args.clips * len(runs) / sum(wall for _, wall in runs) for name, runs in one_core.items()}
    print(f"\nOne core (one process, one decoder thread, sets interleaved clip by clip), {args.clips} clips x {args.repeats} rounds:")
    print("| videos | clips per CPU-second | CPU ms per clip | vs raw | wall clips/s (shared machine) | vs raw |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in sets:
        print(f"| {name} | {per_cpu[name]:.2f} | {1000 / per_cpu[name]:.0f} | {per_cpu[name] / per_cpu['raw']:.1f}x "
              f"| {per_wall[name]:.2f} | {per_wall[name] / per_wall['raw']:.1f}x |")  # fmt: skip
    print(f"\nLoader (VideoDataModule.train_dataloader, batch {args.batch_size}, {args.batches} timed batches), median of {args.repeats}:")
    print("| workers | raw clips/s | prepared clips/s | prepared / raw | raw clips/worker-CPU-s | prepared clips/worker-CPU-s |")
    print("|---:|---:|---:|---:|---:|---:|")
    med = {key: (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)) for key, runs in loader.items()}
    for workers in args.workers:
        (raw, raw_cpu), (prepared, prepared_cpu) = med["raw", workers], med["prepared", workers]
        print(f"| {workers} | {raw:.2f} | {prepared:.2f} | {prepared / raw:.1f}x | {raw_cpu:.2f} | {prepared_cpu:.2f} |")
    for gpu in args.gpu_clips_per_s:
        print(f"GPU at {gpu:.0f} clips/s needs {gpu / per_cpu['prepared']:.0f} cores on prepared videos, "
              f"{gpu / per_cpu['raw']:.0f} on raw ones (clips per CPU-second above)")  # fmt: skip
    print(f"\n{_load()}")
    if args.json:
        figures = {"one_core_cpu_wall_seconds": one_core, "clips_per_round": args.clips,
                   "loader_wall_cpu_rates": {f"{name}/{w}": rates for (name, w), rates in loader.items()},
                   "prepare_cpu_wall_seconds_per_video": cost, "raw_mbit_per_s": raw_bytes * 8 / SECONDS / 1e6}  # fmt: skip
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
