"""Training throughput of a2net_r50 and nl_r50 against i3d_r50 (issues 4, 14): clips per second, same run.

Clips are random tensors already on the device, so decoding is not measured: this is the cost of
the network and its optimiser step (forward, backward, SGD with momentum) under each precision
(``--precision bf16 fp16``) and execution mode (``--modes eager compiled``: ``torch.compile`` of the
network). Within one precision and mode, every model is built and warmed up once (the compilation
happens there and is reported), then the models alternate over ``--repeats`` rounds and the median
is reported, so a clock change or a neighbour's job hits all of them. The ratio lines check the
target: the five A² blocks may cost at most 15 % of i3d_r50's throughput; nl_r50 is on the same
table for comparison.

    python tools/bench_train.py                                          # GPU: bf16, eager, 8x224², batch 16
    python tools/bench_train.py --precision bf16 fp16 --modes eager compiled --json train.json
    python tools/bench_train.py --device cpu --models i3d_r26 a2net_r26 --base-width 8 --size 32 --frames 4 \\
        --batch 2 --precision 32 --steps 2 --warmup 1 --repeats 1 --modes eager compiled --compile-backend eager
                                                                         # a CPU smoke run, seconds

The loader half of the GPU measurement is ``tools/bench_loader.py --workers $(nproc)``;
``tools/gpu_bench.sh`` runs everything of issue 14 item 4 in one go.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import nullcontext
import torch

from a2video.files import atomic_write_text
from a2video.models import create_model

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "32": None}


class Prepared:
    """One model with its optimiser and a fixed batch on the device, warmed up (and compiled)."""

    def __init__(self, model_name: str, args: argparse.Namespace, precision: str, compiled: bool) -> None:
        device = torch.device(args.device)
        self.device = device
        torch.manual_seed(0)
        model = create_model(model_name, num_classes=400, base_width=args.base_width).to(device)
        if args.channels_last:
            model = model.to(memory_format=torch.channels_last_3d)
        if compiled:
            model.compile(backend=args.compile_backend)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        clips = torch.randn(args.batch, 3, args.frames, args.size, args.size, device=device)  # (N, C, T, H, W)
        if args.channels_last:
            clips = clips.contiguous(memory_format=torch.channels_last_3d)
        labels = torch.randint(0, 400, (args.batch,), device=device)
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
        self.model, self.optimizer, self.clips, self.step = model, optimizer, clips, step
        start = time.perf_counter()
        step()  # the first step compiles (and picks cuDNN algorithms)
        self._sync()
        self.first_step_s = time.perf_counter() - start
        for _ in range(args.warmup):
            step()
        self._sync()
        self.peak_gib = self._step_peak_gib()

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _step_peak_gib(self) -> float:
        """Peak memory of one step above what is allocated between steps (weights, momentum); NaN on CPU."""
        if self.device.type != "cuda":
            return float("nan")
        self._sync()
        before = torch.cuda.memory_allocated(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        self.step()
        self._sync()
        return (torch.cuda.max_memory_allocated(self.device) - before) / 2**30

    def clips_per_second(self, steps: int) -> float:
        self._sync()
        start = time.perf_counter()
        for _ in range(steps):
            self.step()
        self._sync()
        return self.clips.shape[0] * steps / (time.perf_counter() - start)


def run_combination(args: argparse.Namespace, precision: str, compiled: bool) -> list[dict]:
    """Rows of one precision and mode: every model prepared once, then timed in alternating rounds."""
    prepared = {name: Prepared(name, args, precision, compiled) for name in args.models}
    rates: dict[str, list[float]] = {name: [] for name in args.models}
    for _ in range(args.repeats):
        for name, model in prepared.items():
            rates[name].append(model.clips_per_second(args.steps))
    reference = statistics.median(rates[args.models[0]])
    rows = []
    for name, model in prepared.items():
        rate = statistics.median(rates[name])
        rows.append({"precision": precision, "mode": "compiled" if compiled else "eager", "model": name,
                     "clips_per_s": rate, "ratio": rate / reference, "step_peak_gib": model.peak_gib,
                     "first_step_s": model.first_step_s, "rounds": rates[name]})
    del prepared
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()
    return rows


def print_rows(rows: list[dict], reference: str) -> None:
    print(f"| precision | mode | model | clips/s | vs {reference} | step peak GiB | first step s |")
    print("|---|---|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['precision']} | {row['mode']} | {row['model']} | {row['clips_per_s']:.1f} | "
              f"{row['ratio']:.3f}x | {row['step_peak_gib']:.2f} | {row['first_step_s']:.1f} |")
    for row in rows:
        if row["model"] != reference:
            cost = 1 - row["ratio"]
            verdict = "meets" if cost <= 0.15 else "misses"
            target = f" ({verdict} the <= 15 % target)" if row["model"].startswith("a2net") else ""
            print(f"{row['precision']} {row['mode']}: {row['model']} costs {100 * cost:.1f} % of {reference}'s "
                  f"throughput{target}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["i3d_r50", "a2net_r50", "nl_r50"],
                        help="the first is the reference")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--base-width", type=int, default=64, help="network width (64 = the real ResNet)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps after the first (compiling) one")
    parser.add_argument("--repeats", type=int, default=3, help="rounds, models alternating; median reported")
    parser.add_argument("--precision", nargs="+", choices=sorted(DTYPES), default=["bf16"])
    parser.add_argument("--modes", nargs="+", choices=["eager", "compiled"], default=["eager"])
    parser.add_argument("--compile-backend", default="inductor",
                        help="torch.compile backend of the compiled mode ('eager': tracing only, for smoke runs)")
    parser.add_argument("--channels-last", action="store_true", help="channels_last_3d memory format")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="start no further precision/mode combination after this many seconds")
    parser.add_argument("--json", help="also write the results to this file (after every combination)")
    parser.add_argument("--report", metavar="JSON", help="measure nothing: print the table of a saved --json file")
    args = parser.parse_args(argv)
    if args.report:
        with open(args.report) as handle:
            saved = json.load(handle)
        print(f"device: {saved['device']}; torch {saved['torch']}; skipped: {', '.join(saved['skipped']) or 'none'}")
        print_rows(saved["rows"], saved["args"]["models"][0])
        return

    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; torch {torch.__version__}; {args.frames}x{args.size}², batch {args.batch}, "
          f"width {args.base_width}, {args.steps} steps x {args.repeats} rounds (median)", flush=True)
    started = time.perf_counter()
    rows, skipped = [], []

    def save() -> None:
        if args.json:  # after every combination: a run stopped by a time limit keeps what it measured
            atomic_write_text(args.json, json.dumps({"device": name, "torch": torch.__version__, "args": vars(args),
                                                     "rows": rows, "skipped": skipped}, indent=2))

    for compiled in [mode == "compiled" for mode in args.modes]:
        for precision in args.precision:
            label = f"{precision} {'compiled' if compiled else 'eager'}"
            if args.budget_s is not None and time.perf_counter() - started > args.budget_s:
                skipped.append(label)
                print(f"{label}: skipped, past the {args.budget_s:.0f} s budget", flush=True)
                continue
            combination = run_combination(args, precision, compiled)
            rows += combination
            print(f"{label}: " + ", ".join(f"{r['model']} {r['clips_per_s']:.1f} clips/s" for r in combination)
                  + f" ({time.perf_counter() - started:.0f} s so far)", flush=True)
            save()
    save()
    print()
    print_rows(rows, args.models[0])


if __name__ == "__main__":
    main()
