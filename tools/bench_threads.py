"""Compute threads on a shared machine (issue 23 item 2): ``predict``, ``test`` and ``fit`` with and
without one competing busy process, the old thread count against the new default, in one run.

Each command runs in this process under three conditions (``--repeats`` times each):

- (a) idle: nothing else of ours on the cores, the default thread count;
- (b) busy, old: a ``python -c "while True: pass"`` process on the same cores, ``--threads`` at
  the usable cores (what torch's default and a2video before issue 23 item 2 gave without loader
  workers);
- (c) busy, new: the same competing process, the default (:func:`a2video.threads.choose_threads`
  sees the busy core when the command starts).

The table gives seconds, compute threads and, for ``predict``, the network's time per view from
its summary line, then (b)/(c) (what the new default saves on a shared box) and (c)/(a) (how much
slower than idle it still is; about 1 to 2 on 2 cores, where it has one of them). The inputs are
the demo's (``a2video.demo.recipe``): a synthetic source set, the demo's network, 32-pixel views
(2 clips x 3 crops, as the demo tests) and no loader workers; a 1-epoch fit makes the checkpoint
that ``test`` and ``predict`` run (weights do not change the speed) and every command is warmed up
once before the timed runs. ``OMP_NUM_THREADS`` is removed from the environment first. Before
each run the busy cores are sampled: a run that saw other work than the competing process is
named NOISY at the end. About 1.5-2 minutes on a 2-core box with the defaults.

    python tools/bench_threads.py
    python tools/bench_threads.py --videos-per-class 20 --epochs 3 --repeats 5   # larger, more repeats
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.pop("OMP_NUM_THREADS", None)  # before torch is imported: its default is then the cores
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pytorch_lightning as pl
import torch

from a2video.cli import main
from a2video.cores import usable_cores
from a2video.demo import recipe
from a2video.demo.recipe import VIDEO_FRAMES, VIDEO_SIZE, DemoSize, write_yaml
from a2video.preparation.synthetic import make_synthetic_set
from a2video.threads import other_busy_cores

CONDITIONS = (("a", "idle", False, False), ("b", "busy, --threads = cores (old)", True, True),
              ("c", "busy, default (new)", True, False))


class RecordThreads(pl.Callback):
    """torch's compute threads during the run's steps (fit and test)."""

    seen: list[int] = []

    def on_train_batch_start(self, *args) -> None:
        RecordThreads.seen.append(torch.get_num_threads())

    def on_test_batch_start(self, *args) -> None:
        RecordThreads.seen.append(torch.get_num_threads())


@contextlib.contextmanager
def competing_process(busy: bool):
    """One process spinning on the cores this one may use, for the duration (none if not ``busy``)."""
    if not busy:
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(spinner.pid, os.sched_getaffinity(0))
        time.sleep(0.5)  # started and spinning before the command looks at the cores
        yield
    finally:
        spinner.kill()
        spinner.wait()


def run_quietly(args: list[str]) -> str:
    """``a2video <args>`` in this process; its standard output (stderr kept for a failure)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    if code != 0:
        raise SystemExit(f"a2video {' '.join(args)} failed ({code}):\n{err.getvalue()[-3000:]}")
    return out.getvalue()


def make_inputs(folder: Path, args: argparse.Namespace) -> tuple[Path, Path]:
    """The synthetic set, a fit config (no validation, workers as asked) and a 1-epoch checkpoint."""
    data = make_synthetic_set(folder / "data", "source", videos_per_class=args.videos_per_class,
                              num_frames=VIDEO_FRAMES, size=VIDEO_SIZE, seed=0)
    size = DemoSize(videos_per_class=args.videos_per_class, pretrain_epochs=args.epochs, finetune_epochs=1,
                    test_clips=args.clips, test_crops=args.crops)
    config = {
        "seed_everything": 0,
        "model": recipe.model_config(args.model, lr=0.1, epochs=args.epochs),
        "data": {**recipe.data_config(data.root, size=size, workers=args.workers), "val_list": None,
                 "batch_size": args.batch_size},
        "trainer": {**recipe.trainer_config(str(folder / "run0"), epochs=args.epochs), "accelerator": "cpu",
                    "logger": False, "enable_progress_bar": False, "enable_model_summary": False},
    }
    path = folder / "fit.yaml"
    write_yaml(path, config)
    run_quietly(["fit", "--config", str(path), "--trainer.max_epochs", "1"])  # the checkpoint; warms fit up
    return path, folder / "run0" / "checkpoints" / "last.ckpt"


def commands(folder: Path, config: Path, checkpoint: Path, args: argparse.Namespace) -> dict:
    """name -> function(extra args, run number) -> (seconds, threads, ms per view or None)."""
    set_root = folder / "data" / "source"
    record = f"--trainer.callbacks+={__name__}.RecordThreads"

    def lightning(name: str):
        def run(extra: list[str], number: int):
            RecordThreads.seen = []
            argv = ([name, "--config", str(config), "--ckpt_path", str(checkpoint)] if name == "test" else
                    [name, "--config", str(config), "--resume", "never"])
            argv += ["--trainer.default_root_dir", str(folder / f"{name}{number}"), record, *extra]
            start = time.perf_counter()
            run_quietly(argv)
            return time.perf_counter() - start, max(RecordThreads.seen, default=0), None
        return run

    videos = sorted((set_root / "videos").rglob("*.mp4"))[:args.predict_videos]
    listing = folder / "predict.txt"
    listing.write_text("".join(f"{path}\n" for path in videos))

    def predict(extra: list[str], number: int):
        argv = ["predict", str(listing), "-c", str(checkpoint), "--clips", str(args.clips), "--crops",
                str(args.crops), "--workers", str(args.workers), "--out", str(folder / f"predict{number}"), *extra]
        start = time.perf_counter()
        printed = run_quietly(argv)
        seconds = time.perf_counter() - start
        per_view = re.search(r"(\d+) ms per view in the network", printed)
        threads = re.search(r"(\d+) compute threads?", printed)
        return seconds, int(threads.group(1)) if threads else 0, float(per_view.group(1)) if per_view else None

    return {"predict": predict, "test": lightning("test"), "fit": lightning("fit")}


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?") if Path("/proc/cpuinfo").is_file() else "?"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{usable_cores()} usable cores ({os.cpu_count()} online), {cpu}; torch {torch.__version__}; "
            f"load average {load:.2f} at the start")


def run(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos-per-class", type=int, default=10,
                        help="synthetic source set: 10 classes, 1/5 of the videos in the test list")
    parser.add_argument("--predict-videos", type=int, default=30, help="videos of the set that predict runs on")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the timed fit")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--clips", type=int, default=2, help="test and predict views: clips (the demo's 2 x 3)")
    parser.add_argument("--crops", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0, help="loader / decoding workers (0: decode in process)")
    parser.add_argument("--model", default="a2net_r26")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per cell (the table shows medians)")
    parser.add_argument("--only", nargs="+", choices=["predict", "test", "fit"], default=["predict", "test", "fit"])
    args = parser.parse_args(argv)
    cores = usable_cores()
    print(machine(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config, checkpoint = make_inputs(folder, args)
        table = commands(folder, config, checkpoint, args)
        count = 0
        rows, noisy = [], []
        for name in args.only:
            table[name]([], count)  # warm-up, idle
            count += 1
            cells = {}
            for key, _, busy, old in CONDITIONS:
                results, others = [], []
                for _ in range(args.repeats):
                    with competing_process(busy):
                        others.append(other_busy_cores(0.3))  # what else ran just before (noise check)
                        results.append(table[name](["--threads", str(cores)] if old else [], count))
                    count += 1
                seconds = statistics.median(r[0] for r in results)
                views = [r[2] for r in results if r[2] is not None]
                cells[key] = (seconds, results[-1][1], statistics.median(views) if views else None)
                expected = 1.0 if busy else 0.0
                if any(abs(b - expected) > 0.3 for b in others):
                    noisy.append(f"{name} ({key})")
                print(f"  {name} ({key}): {' '.join(f'{r[0]:.2f}' for r in results)} s, threads "
                      f"{' '.join(str(r[1]) for r in results)}, ms/view {' '.join(str(r[2]) for r in results)}; "
                      f"busy cores before: {' '.join(f'{b:.1f}' for b in others)}", flush=True)
            rows.append((name, cells))
    header = ("| command | (a) idle | (b) busy, old threads | (c) busy, new default | (b)/(c) | (c)/(a) |\n"
              "|---|---:|---:|---:|---:|---:|")
    print(f"\n{header}")
    for name, cells in rows:
        text = {}
        for key, (seconds, threads, per_view) in cells.items():
            view = f", {per_view:.0f} ms/view" if per_view is not None else ""
            text[key] = f"{seconds:.2f} s ({threads} thr{view})"
        print(f"| {name} | {text['a']} | {text['b']} | {text['c']} | "
              f"{cells['b'][0] / cells['c'][0]:.1f} | {cells['c'][0] / cells['a'][0]:.1f} |")
    print(f"\nmedians of {args.repeats}; load average {os.getloadavg()[0]:.2f} at the end")
    if noisy:
        print(f"NOISY: other work than the competing process ran before {', '.join(noisy)}: run it again")


if __name__ == "__main__":
    run()
