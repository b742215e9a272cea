"""Attention ablation on the synthetic set: every variant and the plain I3D, same budget, same seed.

Each model is trained from scratch on the synthetic ``source`` set with the demo's pre-training
recipe (``a2video.demo.recipe``: 8 frames at stride 4, 32² crops, batch 16, SGD + cosine), only
``model.model`` changing, then tested with multi-view testing on the test list. The runs go through
the real ``a2video fit`` / ``a2video test`` code path; their configs stay in ``OUT/configs``.

    python tools/ablation.py --out ablation --json ablation.json
    python tools/ablation.py --models i3d_r50 a2net_r50 --epochs 5        # a quicker look

Prints one table: parameters, video and clip top-1 on the test set, and seconds per epoch (wall
time of ``fit`` divided by the epochs, validation included). Reruns reuse finished runs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from a2video.cores import usable_cores
from a2video.cli import main as a2video_main
from a2video.preparation.synthetic import make_synthetic_set
from a2video.demo.recipe import VIDEO_FRAMES, VIDEO_SIZE, DemoSize, write_yaml, data_config, model_config, trainer_config

MODELS = ["i3d_r50", "a2net_r50", "nl_r50", "se_r50", "coord_r50", "lka_r50", "aa_r50"]


def parameters(model: str, num_classes: int, base_width: int) -> int:
    from a2video.models import create_model

    net = create_model(model, num_classes=num_classes, base_width=base_width)
    return sum(p.numel() for p in net.parameters())


def run_one(model: str, out: Path, data: Path, size: DemoSize, seed: int, workers: int) -> dict:
    run_dir = out / "runs" / model
    config = {
        "seed_everything": seed,
        "model": model_config(model, lr=0.05, epochs=size.pretrain_epochs),
        "data": data_config(str(data / "source"), size=size, workers=workers),
        "trainer": {**trainer_config(str(run_dir), epochs=size.pretrain_epochs), "enable_progress_bar": False},
    }
    config["data"]["seed"] = seed
    path = out / "configs" / f"{model}.yaml"
    write_yaml(path, config)
    timing = run_dir / "fit_seconds.json"
    if not timing.is_file():
        start = time.perf_counter()
        if a2video_main(["fit", "--config", str(path), "--resume", "never"]) != 0:
            raise SystemExit(f"fit failed for {model}")
        timing.write_text(json.dumps({"seconds": time.perf_counter() - start}))
    seconds = json.loads(timing.read_text())["seconds"]
    last = run_dir / "checkpoints" / "last.ckpt"
    if a2video_main(["test", "--config", str(path), "--ckpt_path", str(last)]) != 0:
        raise SystemExit(f"test failed for {model}")
    metrics = json.loads((run_dir / "test" / "metrics.json").read_text())
    return {
        "model": model,
        "params": parameters(model, metrics["num_classes"], config["model"]["base_width"]),
        "video_top1": metrics["video_top1"],
        "clip_top1": metrics["clip_top1"],
        "seconds_per_epoch": seconds / size.pretrain_epochs,
        "epochs": size.pretrain_epochs,
        "num_videos": metrics["num_videos"],
        "views_per_video": metrics["views_per_video"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="ablation", help="folder for the data, configs and runs")
    parser.add_argument("--data", help="folder of the synthetic sets (default: OUT/data); share it between runs")
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--videos-per-class", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=min(2, usable_cores()))
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()

    out = Path(args.out).resolve()
    size = DemoSize(videos_per_class=args.videos_per_class, pretrain_epochs=args.epochs, finetune_epochs=0,
                    test_clips=4, test_crops=3)
    data = Path(args.data).resolve() if args.data else out / "data"
    make_synthetic_set(data, "source", videos_per_class=size.videos_per_class,
                       num_frames=VIDEO_FRAMES, size=VIDEO_SIZE, seed=0)
    rows = [run_one(model, out, data, size, args.seed, args.workers) for model in args.models]

    print(f"\nSynthetic source set, {rows[0]['num_videos']} test videos x {rows[0]['views_per_video']} views, "
          f"{args.epochs} epochs from scratch, seed {args.seed}")
    print("| model | params (K) | video top-1 % | clip top-1 % | s / epoch |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['model']} | {row['params'] / 1e3:,.0f} | {row['video_top1']:.1f} | {row['clip_top1']:.1f} "
              f"| {row['seconds_per_epoch']:.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
