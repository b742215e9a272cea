"""What ``a2video demo`` costs on this machine, and how long it will take here.

Measures, in this process, the unit costs the demo's time is made of (``a2video.demo.timing``):
a training step of the demo's network, an evaluation view, loading a training clip and an evaluation
video the way a loader worker does, writing a synthetic video, the batch hand-over to the training
process, and (in a fresh interpreter) the start-up imports. Each is measured in several rounds that
alternate with a fixed reference (a float32 256x256 matmul), so on a shared machine the ratios stay
comparable even when the seconds do not. Then it counts the demo's work per stage and predicts each
stage's wall-clock time on this machine when it is otherwise idle.

    python tools/bench_demo.py                       # the default demo; about a minute
    python tools/bench_demo.py --compare             # also eager / other batch size / compiled variants
    python tools/bench_demo.py --size tiny --rounds 1 --repeats 2 --json out.json   # a smoke run

The prediction assumes the machine is idle; ``a2video demo`` prints the same prediction on every
stage line and writes the real per-stage times to ``<out>/timing.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from a2video.cores import usable_cores
from a2video.data.transforms import normalize_video
from a2video.demo import recipe as demo
from a2video.demo import timing as demo_timing
from a2video.demo.timing import Costs, measure_loading, measure_network
from a2video.engine.runtime import cpu_threads

REFERENCE = torch.randn(256, 256)


def reference_seconds() -> float:
    """Seconds of one float32 256x256 matmul (median of 50), one thread: the machine's yardstick."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        times = []
        for _ in range(50):
            start = time.perf_counter()
            REFERENCE @ REFERENCE
            times.append(time.perf_counter() - start)
        return statistics.median(times)
    finally:
        torch.set_num_threads(previous)


def import_seconds() -> float:
    """Wall seconds of a fresh interpreter importing what ``a2video demo`` imports before it trains."""
    code = "import a2video.engine.lightning_cli, a2video.demo.recipe, a2video.preparation.synthetic"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def transfer_seconds(config: dict, repeats: int) -> float:
    """Seconds to normalise one uint8 training batch to float in the training process (CPU runs)."""
    data = config["data"]
    batch = torch.randint(0, 255, (data["batch_size"], 3, data["num_frames"], data["crop_size"], data["crop_size"]),
                          dtype=torch.uint8)
    return demo_timing.timed(lambda: normalize_video(batch), repeats)


def measure_rounds(config: dict, args: argparse.Namespace) -> tuple[Costs, dict[str, float], list[float]]:
    """Unit costs (median over rounds), each also as a multiple of the reference, and the references."""
    workers = config["data"]["num_workers"]
    threads = cpu_threads(workers) or torch.get_num_threads()
    rounds: dict[str, list[float]] = {}
    references = []
    with tempfile.TemporaryDirectory(prefix="bench_demo_") as folder:
        for _ in range(args.rounds):
            references.append(reference_seconds())
            step, view = measure_network(config, threads=threads, repeats=args.repeats)
            references.append(reference_seconds())
            loading = measure_loading(config, num_frames=demo.VIDEO_FRAMES, size=demo.VIDEO_SIZE, folder=Path(folder),
                                      repeats=args.repeats)
            measured = {"train_step": step, "eval_view": view, **loading,
                        "batch_transfer": transfer_seconds(config, args.repeats)}
            for key, value in measured.items():
                rounds.setdefault(key, []).append(value)
    medians = {key: statistics.median(values) for key, values in rounds.items()}
    costs = Costs(cores=usable_cores(), threads=threads, workers=workers,
                  **{k: v for k, v in medians.items() if k != "batch_transfer"})
    return costs, medians, references


def predict(configs: dict, spec: demo.DemoSize, costs: Costs) -> dict[str, float]:
    return {stage.name: demo_timing.predict_seconds(stage, costs)
            for stage in demo_timing.demo_work(configs, spec.videos_per_class)}


def compile_seconds(config: dict, threads: int) -> float:
    """Seconds the first training step of the compiled network takes beyond a steady one (the compilation)."""
    from a2video.engine.module import VideoClassifier

    model, data = config["model"], config["data"]
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        module = VideoClassifier(model=model["model"], base_width=model["base_width"], dropout=model["dropout"],
                                 channels_last=model["channels_last"], compile=True)
        torch._dynamo.reset()  # the compiled variant's own measurement compiled already: start cold
        module.build(10, load_initial_weights=False)
        clips = torch.randn(data["batch_size"], 3, data["num_frames"], data["crop_size"], data["crop_size"])
        module.train()
        times = []
        for _ in range(3):
            start = time.perf_counter()
            module(clips).sum().backward()
            times.append(time.perf_counter() - start)
        return times[0] - statistics.median(times[1:])
    finally:
        torch.set_num_threads(previous)


def variants(configs: dict) -> dict[str, dict]:
    """The recipe with one choice changed at a time, for --compare (pre-training configs)."""
    chosen = configs["pretrain"]
    changed = {"recipe": chosen}
    other_batch = 32 if chosen["data"]["batch_size"] == 16 else 16
    for label, section, key, value in (("no channels_last", "model", "channels_last", not chosen["model"]["channels_last"]),
                                       (f"batch {other_batch}", "data", "batch_size", other_batch),
                                       ("compiled", "model", "compile", True)):
        config = copy.deepcopy(chosen)
        config[section][key] = value
        changed[label] = config
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(demo.SIZES), default="small")
    parser.add_argument("--model", default="a2net_r26")
    parser.add_argument("--workers", type=int, default=min(2, usable_cores()), help="as `a2video demo --workers`")
    parser.add_argument("--rounds", type=int, default=3, help="measurement rounds, alternating with the reference")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions of each unit per round")
    parser.add_argument("--compare", action="store_true",
                        help="also measure the step without channels_last, at the other batch size (16 or 32), and torch.compile's cost")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    spec = demo.SIZES[args.size]
    configs = demo.demo_configs("/nonexistent", model=args.model, size=args.size, workers=args.workers)
    load = os.getloadavg()[0]
    print(f"# bench_demo: {platform.processor() or platform.machine()}, {usable_cores()} cores, "
          f"torch {torch.__version__}; load average {load:.1f} at the start"
          + ("  (the machine is busy: seconds are inflated, ratios to the reference less so)" if load > 0.5 else ""))
    startup = import_seconds()
    costs, medians, references = measure_rounds(configs["pretrain"], args)
    reference = statistics.median(references)

    print(f"\nreference (256x256 float32 matmul, 1 thread): {reference * 1e6:.0f} us "
          f"(min {min(references) * 1e6:.0f}, max {max(references) * 1e6:.0f} over the rounds)")
    print(f"compute threads {costs.threads} beside {costs.workers} loader workers\n")
    print(f"{'unit':<42} {'seconds':>9} {'x reference':>12}")
    labels = {
        "train_step": f"training step (batch {configs['pretrain']['data']['batch_size']})",
        "eval_view": "evaluation view (forward)",
        "train_clip_load": "load one training clip (decode + crop)",
        "val_video_load": "load one validation video (its views)",
        "test_video_load": "load one test video (all views)",
        "video_write": "render + encode one synthetic video",
        "batch_transfer": "hand over one training batch (normalise)",
    }
    for key, label in labels.items():
        print(f"{label:<42} {medians[key]:>9.4f} {medians[key] / reference:>12.0f}")
    print(f"{'start-up (fresh interpreter, imports)':<42} {startup:>9.2f}")

    stages = predict(configs, spec, costs)
    work = {stage.name: stage for stage in demo_timing.demo_work(configs, spec.videos_per_class)}
    total = startup + sum(stages.values())
    print(f"\npredicted `a2video demo --size {args.size}` on this machine, idle:")
    for name, seconds in stages.items():
        stage = work[name]
        what = {"data": f"{stage.videos_written} videos",
                "test": f"{stage.test_videos} videos x {stage.test_views} views"}.get(
            name, f"{stage.epochs} epochs x {stage.steps_per_epoch} steps, {stage.val_passes} validations")
        print(f"  {name:<10} {demo_timing.clock(seconds):>6}  ({what})")
    print(f"  {'start-up':<10} {demo_timing.clock(startup):>6}")
    print(f"  {'total':<10} {demo_timing.clock(total):>6}  ({total / 60:.1f} min)")

    results = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": costs.cores,
                           "torch": torch.__version__, "load_average": load},
               "reference_s": reference, "costs_s": medians, "startup_s": startup, "costs": costs.as_dict(),
               "predicted_s": {**stages, "startup": startup, "total": total}, "args": vars(args)}

    if args.compare:
        print("\nthe recipe with one choice changed (training step, and the demo's predicted total on this machine):")
        results["compare"] = {}
        for label, config in variants(configs).items():
            step, view = measure_network(config, threads=costs.threads, repeats=args.repeats)
            swapped = copy.deepcopy(configs)
            for name in ("pretrain", "finetune"):
                swapped[name]["model"] = {**swapped[name]["model"], "channels_last": config["model"]["channels_last"],
                                          "compile": config["model"]["compile"]}
                swapped[name]["data"]["batch_size"] = config["data"]["batch_size"]
            per_clip = step / config["data"]["batch_size"]
            variant_costs = Costs(**{**costs.as_dict(), "train_step": step, "eval_view": view})
            variant_total = startup + sum(predict(swapped, spec, variant_costs).values())
            row = {"train_step_s": step, "per_clip_s": per_clip, "eval_view_s": view, "total_s": variant_total}
            if config["model"]["compile"]:
                # Every `fit` and `test` launch compiles again (training and evaluation graphs).
                row["compile_s"] = compile_seconds(config, costs.threads)
                row["total_s"] = variant_total + 3 * row["compile_s"]
            results["compare"][label] = row
            extra = f", + {row['compile_s']:.0f} s compiling per launch" if "compile_s" in row else ""
            print(f"  {label:<18} step {step:.4f} s ({per_clip * 1000:.2f} ms per clip, {step / reference:.0f}x "
                  f"reference){extra}: demo about {row['total_s'] / 60:.1f} min")

    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
