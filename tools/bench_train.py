"""Training throughput of a2net_r50 against i3d_r50 (issue 4): clips per second, same run.

Clips are random tensors already on the device, so decoding is not measured: this is the cost of
the network and its optimiser step (forward, backward, SGD with momentum) under the chosen precision.
The models alternate over ``--repeats`` rounds and the median is reported, so a clock change or a
neighbour's job hits both. The ratio line checks the target: the five A² blocks may cost at most
15 % of i3d_r50's throughput.

    python tools/bench_train.py                                   # GPU: bf16, 8x224², batch 16
    python tools/bench_train.py --device cpu --size 64 --batch 2 --precision 32 --steps 3   # a smoke run

The loader half of the GPU measurement is ``tools/bench_loader.py --workers $(nproc)``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import nullcontext

import torch

from a2video.models import create_model

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "32": None}


def measure(model_name: str, *, device: torch.device, frames: int, size: int, batch: int, steps: int, warmup: int,
            precision: str, channels_last: bool) -> tuple[float, float]:
    """(clips per second, peak memory in GiB; NaN on CPU) for one model."""
    torch.manual_seed(0)
    model = create_model(model_name, num_classes=400).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    clips = torch.randn(batch, 3, frames, size, size, device=device)
    if channels_last:
        clips = clips.contiguous(memory_format=torch.channels_last_3d)
    labels = torch.randint(0, 400, (batch,), device=device)
    dtype = DTYPES[precision]
    autocast = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype is not None else nullcontext

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = torch.nn.functional.cross_entropy(model(clips), labels)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    model.train()
    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    del model, optimizer, clips
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return batch * steps / seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["i3d_r50", "a2net_r50"], help="the first is the reference")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="rounds, models alternating; median reported")
    parser.add_argument("--precision", choices=sorted(DTYPES), default="bf16")
    parser.add_argument("--channels-last", action="store_true", help="channels_last_3d memory format")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    results: dict[str, list[float]] = {m: [] for m in args.models}
    peaks: dict[str, float] = {}
    for _ in range(args.repeats):
        for model_name in args.models:
            rate, peak = measure(model_name, device=device, frames=args.frames, size=args.size, batch=args.batch,
                                 steps=args.steps, warmup=args.warmup, precision=args.precision,
                                 channels_last=args.channels_last)
            results[model_name].append(rate)
            peaks[model_name] = peak

    print(f"device: {name}; torch {torch.__version__}; {args.frames}x{args.size}², batch {args.batch}, "
          f"precision {args.precision}, {args.steps} steps x {args.repeats} rounds (median)")
    print(f"{'model':<12} {'clips/s':>9} {'peak GiB':>9} {'vs ' + args.models[0]:>12}")
    reference = statistics.median(results[args.models[0]])
    rows = []
    for model_name in args.models:
        rate = statistics.median(results[model_name])
        rows.append({"model": model_name, "clips_per_s": rate, "peak_gib": peaks[model_name],
                     "ratio": rate / reference, "rounds": results[model_name]})
        print(f"{model_name:<12} {rate:>9.1f} {peaks[model_name]:>9.2f} {rate / reference:>11.3f}x")
    for row in rows[1:]:
        cost = 1 - row["ratio"]
        verdict = "meets" if cost <= 0.15 else "misses"
        print(f"{row['model']} costs {100 * cost:.1f} % of {args.models[0]}'s throughput ({verdict} the <= 15 % target)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"device": name, "args": vars(args), "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
