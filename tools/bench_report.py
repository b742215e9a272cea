"""Timing of ``a2video analyze`` at Kinetics size and of ``a2video explain`` on a full-size model.

``analyze``: a synthetic Kinetics-400 test folder (20,000 videos x 30 views (10 clips x 3 crops) x
400 classes of float32 logits, 50 failed videos) is written with ``write_evaluation``; then, in the
same process, ``compute_metrics`` on the in-memory logits (the reference: the work ``a2video
test`` itself does at the end of a run), the analysis numbers alone (load + ``analyze_run``) and
the whole ``write_analysis`` (numbers, CSV/JSON, plots, the 400-class confusion PNG, report.html).

``explain``: a randomly initialised full-size ``a2net_r50`` (400 classes) saved as a checkpoint of
``a2video fit`` and a 10-second 320x240 25 fps H.264 video; ``run_explain`` runs in a fresh Python
process (imports included, as a user would run it), and the reference is one forward pass of the
same model on the same clip size in this process.

Usage::

    python tools/bench_report.py analyze [--videos 20000] [--folder DIR]
    python tools/bench_report.py explain [--folder DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]


def bench_analyze(videos: int, folder: Path) -> None:
    from a2video.evaluation import compute_metrics, write_evaluation
    from a2video.evaluation.analysis import analyze_run, load_test_run
    from a2video.evaluation.report import write_analysis

    clips, crops, classes = 10, 3, 400
    rng = np.random.default_rng(0)
    labels = rng.integers(0, classes, videos)
    logits = np.empty((videos, clips * crops, classes), dtype=np.float32)
    for start in range(0, videos, 1000):  # (1000, 30, 400) at a time keeps the float64 draws small
        part = rng.standard_normal((min(1000, videos - start), clips * crops, classes), dtype=np.float32)
        # A confusable neighbour class and per-video difficulty: about 70 % video top-1.
        y = labels[start:start + len(part)]
        strength = rng.uniform(0.0, 5.0, size=(len(part), 1)).astype(np.float32)
        part[np.arange(len(part)), :, y] += strength
        part[np.arange(len(part)), :, (y + 1) % classes] += 0.6 * strength
        logits[start:start + len(part)] = part
    ok = np.ones(videos, bool)
    ok[rng.choice(videos, 50, replace=False)] = False
    names = [f"action class {c:03d}" for c in range(classes)]
    paths = [f"{names[y].replace(' ', '_')}/{i:011d}_000010_000020.mp4" for i, y in enumerate(labels)]
    test_dir = folder / "test"
    t = time.perf_counter()
    write_evaluation(test_dir, paths=paths, labels=labels, ok=ok, errors=["" if g else "truncated" for g in ok],
                     view_logits=logits, class_names=names, clips=clips, crops=crops)
    written = time.perf_counter() - t
    size = (test_dir / "view_logits.npz").stat().st_size / 2**30

    reference = _timed(lambda scores=logits: compute_metrics(scores, labels, ok))
    del logits
    numbers = _timed(lambda: analyze_run(load_test_run(test_dir)))
    full, output = _timed(lambda: write_analysis([test_dir], worst=0), keep=True)
    page = output.report.stat().st_size / 2**20
    print(f"view_logits.npz: {size:.2f} GiB ({videos} x {clips * crops} x {classes}), written in {written:.1f} s")
    print("seconds (wall / CPU of this process); CPU time is barely inflated by other jobs on a shared box")
    print(f"reference compute_metrics (in memory):        {reference[0]:6.1f} / {reference[1]:6.1f}")
    for label, (wall, cpu) in (("analysis numbers (load npz + analyze_run):  ", numbers),
                               ("write_analysis (numbers, files, plots, page)", full)):
        print(f"{label} {wall:6.1f} / {cpu:6.1f}  = {wall / reference[0]:.2f} x reference (wall), "
              f"{cpu / reference[1]:.2f} x (CPU)")
    print(f"report.html {page:.1f} MiB, views curve points: {len(output.analyses[0].views_curve)}")


def _timed(work, keep: bool = False):
    """(wall seconds, CPU seconds) of ``work()``; with ``keep``, also its result."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    times = (time.perf_counter() - wall, time.process_time() - cpu)
    return (times, result) if keep else times


def bench_explain(folder: Path) -> None:
    from a2video.data.encoding import write_video
    from a2video.models import create_model

    torch.manual_seed(0)
    model = create_model("a2net_r50", num_classes=400).eval()
    for name, module in model.named_modules():
        if name.endswith(".attention"):
            torch.nn.init.ones_(module.norm.weight)  # a trained block is not the identity
    checkpoint = {
        "state_dict": {f"net.{k}": v for k, v in model.state_dict().items()},
        "hyper_parameters": {"model": "a2net_r50", "base_width": 64, "dropout": 0.5, "model_kwargs": None,
                             "num_classes": 400},
        "datamodule_hyper_parameters": {"num_frames": 8, "sampling_rate": 8, "test_short_side": 256,
                                        "test_crop_size": None},
    }
    torch.save(checkpoint, folder / "a2net_r50.ckpt")
    rng = np.random.default_rng(0)
    frames = np.empty((250, 240, 320, 3), np.uint8)
    yy, xx = np.mgrid[:240, :320]
    for t in range(250):
        frames[t] = ((xx + 2 * t) % 256)[..., None] // 2
        cy, cx = 120 + 60 * np.sin(t / 20), (40 + 1.1 * t) % 320
        frames[t][(yy - cy) ** 2 + (xx - cx) ** 2 < 30**2] = (230, 60, 40)
    frames = np.clip(frames + rng.integers(0, 12, frames.shape, dtype=np.uint8), 0, 255).astype(np.uint8)
    video = write_video(folder / "ten_seconds.mp4", frames, fps=25)

    command = [sys.executable, "-c",
               "import argparse, sys; from a2video.commands.explain import configure_explain, run_explain; "
               "p = argparse.ArgumentParser(); configure_explain(p); run_explain(p.parse_args(sys.argv[1:]))",
               str(video), "--ckpt", str(folder / "a2net_r50.ckpt"), "--out", str(folder / "explain")]
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    t = time.perf_counter()
    subprocess.run(command, check=True, env=env)
    end_to_end = time.perf_counter() - t
    # CPU seconds of the child: unlike wall time, barely inflated by other jobs on a shared box.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime

    clip = torch.randn(1, 3, 8, 256, 256)
    with torch.no_grad():
        model(clip)  # warm-up
        t, c = time.perf_counter(), time.process_time()
        model(clip)
        forward, forward_cpu = time.perf_counter() - t, time.process_time() - c
    print(f"a2video explain, fresh process, a2net_r50 400 classes, 10 s 320x240 video: {end_to_end:.1f} s wall, "
          f"{cpu:.1f} s CPU (user + system, all threads)")
    print(f"reference: one forward of the same model on (1, 3, 8, 256, 256): {forward:.2f} s "
          f"wall, {forward_cpu:.2f} s CPU -> explain = {end_to_end / forward:.1f} x forward (wall), "
          f"{cpu / forward_cpu:.1f} x (CPU); torch threads {torch.get_num_threads()}")
    print("outputs:", ", ".join(sorted(p.name for p in (folder / "explain").iterdir())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("analyze", "explain"))
    parser.add_argument("--videos", type=int, default=20000)
    parser.add_argument("--folder", help="work folder (default: a temporary one, removed at the end)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.folder or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        bench_analyze(args.videos, folder) if args.what == "analyze" else bench_explain(folder)


if __name__ == "__main__":
    main()
