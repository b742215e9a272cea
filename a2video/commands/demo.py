"""``a2video demo``: synthetic pre-training, fine-tuning and a multi-view test, on a CPU in minutes."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from a2video.cores import usable_cores
from a2video.demo.recipe import (
    SIZES,
    VIDEO_FRAMES,
    VIDEO_SIZE,
    demo_configs,
    write_yaml,
)
from a2video.engine.checkpoints import CHECKPOINT_DIR, best_checkpoint, finished_epochs
from a2video.errors import A2VideoError
from a2video.files import atomic_write


def _lightning(args: list[str]) -> None:
    from a2video.engine.lightning_cli import run_lightning

    run_lightning(args)


def configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.description = "Synthetic pre-training → fine-tuning → multi-view test, on a CPU in minutes."
    parser.add_argument("--out", default="a2video_demo", help="folder for data, runs and configs")
    parser.add_argument("--size", choices=sorted(SIZES), default="small",
                        help="tiny: seconds, smoke test; small: the default (< 5 min on 2 cores); large: longer")
    parser.add_argument("--model", default="a2net_r26", help="any name from `a2video flops --list`")
    parser.add_argument("--workers", type=int, default=min(2, usable_cores()), help="data loader workers")
    parser.add_argument("--seed", type=int, default=0,
                        help="another seed: other videos, initial weights and data order (use a new --out)")
    parser.add_argument("--fresh", action="store_true", help="retrain even if the runs already finished")


def run_demo(args: argparse.Namespace) -> None:
    from a2video.demo import timing as demo_timing
    from a2video.models import list_models
    from a2video.preparation.synthetic import make_synthetic_set

    if args.model not in list_models():
        raise A2VideoError(f"unknown model {args.model!r}; available: {', '.join(list_models())}")
    out = Path(args.out).resolve()
    spec = SIZES[args.size]
    configs = demo_configs(str(out), model=args.model, size=args.size, workers=args.workers, seed=args.seed)
    start = time.time()
    startup = demo_timing.process_age()

    costs = demo_timing.measure_costs(configs["pretrain"], num_frames=VIDEO_FRAMES, size=VIDEO_SIZE)
    work = {stage.name: stage for stage in demo_timing.demo_work(configs, spec.videos_per_class)}
    to_train = {name: args.fresh or finished_epochs(_last_checkpoint(configs[name])) < spec_epochs
                for name, spec_epochs in (("pretrain", spec.pretrain_epochs), ("finetune", spec.finetune_epochs))}
    data_ready = all((out / "data" / name / "synth.json").is_file() for name in ("source", "target"))
    runs = {"data": not data_ready, **to_train, "test": True}
    predicted = {name: demo_timing.predict_seconds(stage, costs) if runs[name] else 0.0 for name, stage in work.items()}
    stages = demo_timing.StageClock(predicted)

    note = stages.begin("data")
    print(f"[1/4] synthetic data: {work['data'].videos_written} videos in {out / 'data'} "
          f"(a training step takes {costs.train_step:.2f} s here)  {note}", flush=True)
    for set_name in ("source", "target"):
        make_synthetic_set(out / "data", set_name, videos_per_class=spec.videos_per_class,
                           num_frames=VIDEO_FRAMES, size=VIDEO_SIZE, seed=args.seed)

    for step, name in ((2, "pretrain"), (3, "finetune")):
        config = configs[name]
        path = out / "configs" / f"{name}.yaml"
        write_yaml(path, config)
        what = "pre-train on source" if name == "pretrain" else "fine-tune on target"
        count = f"{work[name].epochs} epochs x {work[name].steps_per_epoch} steps"
        note = stages.begin(name)
        print(f"[{step}/4] {what}, {count}: a2video fit --config {path}  {note}", flush=True)
        if runs[name]:
            _lightning(["fit", "--config", str(path)] + (["--resume", "never"] if args.fresh else []))

    finetune_dir = Path(configs["finetune"]["trainer"]["default_root_dir"])
    best = best_checkpoint(finetune_dir)
    test_args = ["test", "--config", str(out / "configs" / "finetune.yaml"), "--ckpt_path", str(best)]
    note = stages.begin("test")
    print(f"[4/4] multi-view test: a2video {' '.join(test_args)}  {note}", flush=True)
    _lightning(test_args)
    stages.end()
    _write_timing(out / "timing.json", costs=costs, stages=stages, size=args.size, startup=startup)

    from a2video.evaluation import format_summary

    metrics = json.loads((finetune_dir / "test" / "metrics.json").read_text())
    minutes = (time.time() - start) / 60
    source = _last_val_top1(Path(configs["pretrain"]["trainer"]["default_root_dir"]))
    print(f"\n=== a2video demo finished in {minutes:.1f} min ===")
    if source is not None:
        print(f"pre-training on source: val clip top-1 {source:.1f} %")
    print(f"fine-tuned on target ({metrics['num_classes']} classes), multi-view test:")
    print(format_summary(metrics, finetune_dir / "test"))
    print(f"configs: {out / 'configs'}   runs: {out / 'runs'}   (tensorboard --logdir {out / 'runs'})")


def _last_checkpoint(config: dict) -> Path:
    return Path(config["trainer"]["default_root_dir"]) / CHECKPOINT_DIR / "last.ckpt"


def _write_timing(path: Path, *, costs: Any, stages: Any, size: str, startup: float) -> None:
    """``timing.json``: this machine's unit costs and each stage's predicted and real seconds.

    ``startup_s`` is the process's age when the demo began (interpreter and imports, when run as
    ``a2video demo``); ``total_wall_s`` counts from there on, the measurement included.
    """
    import platform

    import torch

    record = {"size": size, "machine": {"cpu": platform.processor() or platform.machine(), "cores": costs.cores,
                                        "torch": torch.__version__},
              "costs_s": costs.as_dict(), "startup_s": startup, "stages": stages.records,
              "total_wall_s": stages.elapsed()}
    atomic_write(path, lambda f: f.write((json.dumps(record, indent=1) + "\n").encode()))


def _last_val_top1(run_dir: Path) -> float | None:
    """The last ``val/clip_top1`` in a run's CSV logs (None when there is none)."""
    import csv

    value = None
    for log in sorted((run_dir / "csv").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name[8:])):
        with open(log, newline="") as handle:
            for row in csv.DictReader(handle):
                if row.get("val/clip_top1"):
                    value = float(row["val/clip_top1"])
    return value
