"""Training-loader throughput: a2video's VideoDataModule against pytorchvideo's LabeledVideoDataset,
and a2video's decoder backends (decord, torchcodec) against each other.

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

Before/after a change, in the same run (the two versions alternate, so both see the same load)::

    git archive <commit> a2video | tar -x -C /tmp/a2video_before
    python tools/bench_loader.py --loaders a2video a2video@baseline --baseline /tmp/a2video_before --probe-cost

torchcodec against decord (``a2video`` is the data module with decord, its default), the whole
loader with workers, then one clip's decode in one process::

    python tools/bench_loader.py --loaders a2video a2video+torchcodec --backend-cost

Every loader run also reports CPU seconds per clip: this process and its DataLoader workers,
read from /proc (Linux), over the timed batches.
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


def _tree_cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its live child processes (the DataLoader workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = time.process_time()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()  # after the command name: state, ppid, ...
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == os.getpid():
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def _measure(batches, warmup: int, count: int, on_batch=None) -> dict[str, float]:
    """Times ``count`` batches after ``warmup`` batches (worker start-up excluded), in wall and CPU time."""
    iterator = iter(batches)
    start = time.perf_counter()
    for _ in range(warmup):
        next(iterator)
    first = time.perf_counter() - start
    clips, start, cpu_start = 0, time.perf_counter(), _tree_cpu_seconds()
    for _ in range(count):
        batch = next(iterator)
        if on_batch is not None:
            batch = on_batch(batch)
        clips += batch["video"].shape[0]
    seconds, cpu = time.perf_counter() - start, _tree_cpu_seconds() - cpu_start
    video = batch["video"]
    return {"clips": clips, "seconds": seconds, "clips_per_s": clips / seconds, "startup_s": first,
            "cpu_ms_per_clip": 1000 * cpu / clips,
            "batch": f"{str(video.dtype).replace('torch.', '')} {tuple(video.shape)}"}  # fmt: skip


def _endless(make_loader):
    """Batches over as many epochs as needed."""
    while True:
        yield from make_loader()


def run_a2video(folder: Path, samples, args, normalise: bool, backend: str = "decord") -> dict[str, float]:
    from a2video.data.lists import write_classes, write_list
    from a2video.engine.datamodule import VideoDataModule

    write_list(folder / "bench_train.txt", samples)
    write_classes(folder / "bench_classes.txt", [f"class{i}" for i in range(10)])
    data = VideoDataModule(
        str(folder), train_list=str(folder / "bench_train.txt"), classes_file=str(folder / "bench_classes.txt"),
        num_frames=NUM_FRAMES, sampling_rate=STRIDE, train_scale_range=SCALE, crop_size=CROP,
        batch_size=args.batch_size, num_workers=args.workers, persistent_workers=True, backend=backend,
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


LOADERS = ("a2video", "a2video+cpu-normalise", "pytorchvideo", "a2video@baseline", "a2video+torchcodec")


def _child(args: argparse.Namespace) -> None:
    folder = Path(args.video_dir)
    samples = prepare_videos(folder, args.videos)
    if args.child == "pytorchvideo":
        result = run_pytorchvideo(folder, samples, args)
    else:  # a2video@baseline is the same code path, imported from --baseline (see _child_command)
        backend = "torchcodec" if args.child.endswith("torchcodec") else "decord"
        result = run_a2video(folder, samples, args, normalise=args.child.endswith("normalise"), backend=backend)
    print(json.dumps(result))


def _child_command(name: str, args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of one timed run; the baseline imports a2video from ``--baseline``."""
    command = [sys.executable, __file__, "--child", name] + [
        f"--{key.replace('_', '-')}={value}" for key, value in vars(args).items()
        if key not in ("child", "loaders", "baseline", "probe_cost", "backend_cost", "torch_threads")
    ]  # fmt: skip
    env = dict(os.environ)
    if name == "a2video@baseline":
        env["PYTHONPATH"] = os.pathsep.join([args.baseline] + env.get("PYTHONPATH", "").split(os.pathsep))
    return command, env


def _remux(source: Path, target: Path) -> None:
    """Copies a video's packets into another container (no re-encoding)."""
    import av

    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)


def _load_decoding(package_root: str, name: str):
    """Imports ``a2video/data/decoding.py`` of another checkout as its own module (it imports no other a2video module)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, os.path.join(package_root, "a2video", "data", "decoding.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def decode_costs(folder: Path, count: int, baseline: str | None, rounds: int = 3) -> None:
    """Prints the probe's cost per file (MP4: sample index; MKV: one pass over the packets) and a clip's decode.

    Current and baseline code run in this one process, alternating file by file (the order
    flips every time), with one decoder thread, and are timed in CPU time of this process, which
    other jobs on a shared machine do not inflate the way they inflate wall time; the ratio is
    the median of the per-file ratios.
    """
    from a2video.data import decoding as current

    versions = {"current": current}
    if baseline:
        versions["baseline"] = _load_decoding(baseline, "baseline_decoding")
    mp4s = sorted(folder.glob("bench_*.mp4"))[:count]
    mkvs = []
    for path in mp4s:
        mkv = folder / "mkv" / f"{path.stem}.mkv"
        if not mkv.exists():
            mkv.parent.mkdir(exist_ok=True)
            _remux(path, mkv)
        mkvs.append(mkv)
    rng = np.random.default_rng(0)
    times: dict[str, dict[str, list[float]]] = {}
    for round_number in range(rounds):
        for number, (mp4, mkv) in enumerate(zip(mp4s, mkvs)):
            order = list(versions.items())
            if (round_number + number) % 2:
                order.reverse()
            start = int(rng.integers(0, FPS * SECONDS - (NUM_FRAMES - 1) * STRIDE))
            indices = start + STRIDE * np.arange(NUM_FRAMES)
            for name, module in order:
                for label, path in (("probe mp4", mp4), ("probe mkv", mkv)):
                    begin = time.process_time()
                    info = module.probe_video(path)
                    times.setdefault(label, {}).setdefault(name, []).append(time.process_time() - begin)
                info = module.probe_video(mp4)
                extra = {"info": info} if "info" in module.read_frames.__code__.co_varnames else {}
                begin = time.process_time()
                module.read_frames(mp4, indices, (256, 341), "decord", num_threads=1, **extra)
                times.setdefault("clip decode", {}).setdefault(name, []).append(time.process_time() - begin)
    print(f"\nCPU time per file / clip, one process ({len(mp4s)} files x {rounds} rounds, medians):")
    for label, by_version in times.items():
        line = "  ".join(f"{name} {1000 * statistics.median(values):6.2f} ms" for name, values in by_version.items())
        if "baseline" in by_version:
            ratios = [a / b for a, b in zip(by_version["current"], by_version["baseline"])]
            line += f"  current/baseline {statistics.median(ratios):.2f}x"
        print(f"  {label:12s} {line}")


def backend_costs(folder: Path, count: int, backends: list[str], torch_threads: int, rounds: int = 3) -> None:
    """Prints one clip's decode time per backend, in one process, one decoder thread, at two output sizes.

    The backends take turns on each clip (the order rotates every clip), so a load that comes
    and goes on a shared machine reaches all of them alike; CPU time is this process's (what a
    DataLoader worker spends), wall time is shown beside it. Ratios are medians of the per-clip
    ratios against the first backend. Sizes: short side 256 (the test size; up from the files'
    240 rows) and 128 (down). torch's thread count matters to torchcodec, which converts and
    resizes with torch's thread pool: DataLoader workers run with 1, the default here.
    """
    import torch

    from a2video.data.decoding import probe_video, read_frames

    torch.set_num_threads(torch_threads)

    paths = sorted(folder.glob("bench_*.mp4"))[:count]
    infos = {path: probe_video(path) for path in paths}
    rng = np.random.default_rng(0)
    cpu: dict[tuple[str, str], list[float]] = {}
    wall: dict[tuple[str, str], list[float]] = {}
    turn = 0
    for _ in range(rounds):
        for path in paths:
            start = int(rng.integers(0, infos[path].num_frames - (NUM_FRAMES - 1) * STRIDE))
            indices = start + STRIDE * np.arange(NUM_FRAMES)
            for label, size in (("256", (256, 341)), ("128", (128, 171))):
                turn += 1
                for backend in backends[turn % len(backends):] + backends[: turn % len(backends)]:
                    begin_cpu, begin_wall = time.process_time(), time.perf_counter()
                    read_frames(path, indices, size, backend, num_threads=1, info=infos[path])
                    cpu.setdefault((label, backend), []).append(time.process_time() - begin_cpu)
                    wall.setdefault((label, backend), []).append(time.perf_counter() - begin_wall)
    reference = backends[0]
    print(f"\nOne clip ({NUM_FRAMES} frames, stride {STRIDE}) decoded and resized in one process, 1 decoder thread, "
          f"{torch_threads} torch thread(s) ({len(paths)} files x {rounds} rounds, medians):")  # fmt: skip
    print(f"| output | backend | CPU ms per clip | wall ms per clip | CPU vs {reference} |\n|---|---|---:|---:|---:|")
    for label in ("256", "128"):
        for backend in backends:
            ratios = [a / b for a, b in zip(cpu[(label, backend)], cpu[(label, reference)])]
            print(f"| short side {label} | {backend} | {1000 * statistics.median(cpu[(label, backend)]):.1f} | "
                  f"{1000 * statistics.median(wall[(label, backend)]):.1f} | {statistics.median(ratios):.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=32, help="number of benchmark videos")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers for both loaders")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=40, help="timed batches per run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches first (worker start-up)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per loader, alternating (ABBA); median reported")
    parser.add_argument("--video-dir", default=os.path.join(tempfile.gettempdir(), "a2video_bench_videos"))
    parser.add_argument("--loaders", nargs="*", choices=LOADERS, default=list(LOADERS[:3]),
                        help="loaders to time (a2video@baseline needs --baseline; none: only --probe-cost)")  # fmt: skip
    parser.add_argument("--baseline", help="a folder holding another version's a2video package (e.g. from "
                        "`git archive <commit> a2video | tar -x -C DIR`), timed as a2video@baseline")  # fmt: skip
    parser.add_argument("--probe-cost", action="store_true",
                        help="also time probe_video per file (MP4 and MKV) and one clip's decode, in one process")
    parser.add_argument("--backend-cost", action="store_true",
                        help="also time one clip's decode with decord, torchcodec (if installed) and PyAV, in one process")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch threads for --backend-cost (DataLoader workers use 1)")
    parser.add_argument("--child", choices=LOADERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    if "a2video@baseline" in args.loaders and not args.baseline:
        parser.error("a2video@baseline needs --baseline DIR")

    Path(args.video_dir).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    prepare_videos(Path(args.video_dir), args.videos)
    print(f"{args.videos} videos {WIDTH}x{HEIGHT}, {SECONDS} s, {FPS} fps in {args.video_dir} "
          f"(ready in {time.perf_counter() - start:.0f} s)")  # fmt: skip
    loaders = list(args.loaders)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in loaders}
    for repeat in range(args.repeats):
        # Reverse the order every other repeat, so a load that rises or falls over the run
        # does not always favour the loader that runs first.
        for name in loaders if repeat % 2 == 0 else loaders[::-1]:
            command, env = _child_command(name, args)
            output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
            runs[name].append(json.loads(output.strip().splitlines()[-1]))
            print(f"  run {repeat + 1}/{args.repeats} {name:22s} {runs[name][-1]['clips_per_s']:6.1f} clips/s", flush=True)

    if not loaders:
        if args.probe_cost:
            decode_costs(Path(args.video_dir), min(args.videos, 16), args.baseline)
        if args.backend_cost:
            backend_costs(Path(args.video_dir), min(args.videos, 16), _installed_backends(), args.torch_threads)
        return
    print(f"\nworkers={args.workers}, batch={args.batch_size}, {args.batches} timed batches, median of {args.repeats}")
    print("| loader | clips/s | CPU ms per clip | s per batch | start-up s | batch video |\n|---|---:|---:|---:|---:|---|")
    median = {name: statistics.median(run["clips_per_s"] for run in runs[name]) for name in loaders}
    cpu = {name: statistics.median(run["cpu_ms_per_clip"] for run in runs[name]) for name in loaders}
    for name in loaders:
        startup = statistics.median(run["startup_s"] for run in runs[name])
        shape = runs[name][-1]["batch"]
        print(f"| {name} | {median[name]:.1f} | {cpu[name]:.1f} | {args.batch_size / median[name]:.3f} | "
              f"{startup:.1f} | {shape} |")
    if "a2video" in median and "pytorchvideo" in median:
        print(f"\nratio a2video / pytorchvideo: {median['a2video'] / median['pytorchvideo']:.2f}x")
    if "a2video+cpu-normalise" in median and "pytorchvideo" in median:
        print(f"ratio with CPU normalisation: {median['a2video+cpu-normalise'] / median['pytorchvideo']:.2f}x")
    if "a2video" in median and "a2video@baseline" in median:
        pairs = zip(runs["a2video"], runs["a2video@baseline"])
        per_run = ", ".join(f"{now['clips_per_s'] / before['clips_per_s']:.2f}" for now, before in pairs)
        print(f"\nratio a2video / a2video@baseline: {median['a2video'] / median['a2video@baseline']:.2f}x "
              f"(run by run: {per_run})")  # fmt: skip
    if "a2video" in median and "a2video+torchcodec" in median:
        pairs = list(zip(runs["a2video+torchcodec"], runs["a2video"]))
        per_run = ", ".join(f"{tc['clips_per_s'] / dec['clips_per_s']:.2f}" for tc, dec in pairs)
        cpu_runs = ", ".join(f"{tc['cpu_ms_per_clip'] / dec['cpu_ms_per_clip']:.2f}" for tc, dec in pairs)
        print(f"\ntorchcodec / decord: clips/s {median['a2video+torchcodec'] / median['a2video']:.2f}x "
              f"(run by run: {per_run}); CPU per clip {cpu['a2video+torchcodec'] / cpu['a2video']:.2f}x "
              f"(run by run: {cpu_runs})")  # fmt: skip
    if args.probe_cost:
        decode_costs(Path(args.video_dir), min(args.videos, 16), args.baseline)
    if args.backend_cost:
        backend_costs(Path(args.video_dir), min(args.videos, 16), _installed_backends(), args.torch_threads)


def _installed_backends() -> list[str]:
    from a2video.data.decoding import torchcodec_available

    return ["decord"] + (["torchcodec"] if torchcodec_available() else []) + ["pyav"]


if __name__ == "__main__":
    main()
