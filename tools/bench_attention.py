"""Benchmark the attention blocks: time and peak memory of one training step, and cost counts.

Part A (issue 2): DoubleAttention3d (left and right association) against NonLocal3d at c = 512,
h = w = 28, d = 4, 8, 16, 32, batch 1 -- the A²-Nets paper's comparison (non-local without
subsampling; the usual subsampled variant is listed too).
Part B (issue 5): every block at the res3 (512×4×28×28) and res4 (1024×4×14×14) shapes of an
8×224² clip: parameters, GMACs, forward+backward time and peak memory.
Part C: parameters and GMACs of every registered model at 8×224² (meta device, no compute).

Every timed point runs in a fresh child process, one after the other in a fixed order. On CPU the
peak is the growth of the resident set over one forward+backward (the kernel's high-water mark is
reset just before it), and the child's address space is capped so that a point that would exhaust
RAM is reported as OOM instead of taking the machine down. On CUDA the peak is
``torch.cuda.max_memory_allocated`` above what was allocated before the step.

    python tools/bench_attention.py --quick          # parts A (d = 4, 8) and B with 1 repeat: < 2 min
    python tools/bench_attention.py                  # everything, 5 repeats (~8 min on 2 cores)
    python tools/bench_attention.py --parts b c --repeats 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import signal
import statistics
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
from torch import nn

from a2video.layers import (
    AttentionAugmentedConv3d,
    CoordinateAttention3d,
    DoubleAttention3d,
    LargeKernelAttention3d,
    NonLocal3d,
    SqueezeExcitation3d,
)
from a2video.models import create_model, list_models
from a2video.models.cost import measure_cost

# The blocks as the named builders configure them (a2net_r50, nl_r50, se_r50, ...).
BLOCKS: dict[str, Callable[[int], nn.Module]] = {
    "a2_left": lambda c: DoubleAttention3d(c, association="left"),
    "a2_right": lambda c: DoubleAttention3d(c, association="right"),
    "nonlocal": lambda c: NonLocal3d(c, subsample=False),
    "nonlocal_sub": lambda c: NonLocal3d(c, subsample=True),
    "se": lambda c: SqueezeExcitation3d(c),
    "coord": lambda c: CoordinateAttention3d(c),
    "lka": lambda c: LargeKernelAttention3d(c),
    "aa": lambda c: AttentionAugmentedConv3d(c),
    # The convolution half of "aa" is a full-width 1×3×3 conv; this shows the block without it.
    "aa_k1": lambda c: AttentionAugmentedConv3d(c, kernel_size=1),
}
PART_A_BLOCKS = ("a2_left", "a2_right", "nonlocal", "nonlocal_sub")
PART_B_BLOCKS = ("a2_left", "nonlocal_sub", "nonlocal", "se", "coord", "lka", "aa", "aa_k1")
PART_B_SHAPES = {"res3": (1, 512, 4, 28, 28), "res4": (1, 1024, 4, 14, 14)}
GIB = 1 << 30
MIB = 1 << 20


@dataclass
class Point:
    """One measured (block, input shape) pair."""

    block: str
    shape: tuple[int, ...]
    status: str = "ok"  # "ok", "OOM" or "error: ..."
    times_s: list[float] = field(default_factory=list)
    peak_bytes: int | None = None
    detail: str = ""
    params: int | None = None  # part B: filled in by the parent from measure_cost
    macs: int | None = None

    @property
    def best_s(self) -> float | None:
        """Fastest timed step: on a shared machine the others are slowed by whatever else runs."""
        return min(self.times_s) if self.times_s else None

    @property
    def median_s(self) -> float | None:
        return statistics.median(self.times_s) if self.times_s else None


def _proc_status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _reset_peak_rss() -> None:
    # Linux >= 4.0: writing 5 resets VmHWM to the current RSS, so a later read is this step's peak.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _train_step(block: nn.Module, x: torch.Tensor) -> None:
    block(x).sum().backward()
    for p in block.parameters():
        p.grad = None
    x.grad = None


def _is_oom(error: BaseException) -> bool:
    text = str(error).lower()
    return isinstance(error, MemoryError) or "out of memory" in text or "can't allocate" in text or (
        "not enough memory" in text
    )


def _run_point(block_name: str, shape: tuple[int, ...], device: str, warmup: int, repeats: int,
               cap_bytes: int, conn) -> None:
    """Child process body: build, cap memory, warm up, measure peak once, then time ``repeats`` steps."""
    point = Point(block_name, shape)
    try:
        torch.manual_seed(0)
        block = BLOCKS[block_name](shape[1]).to(device).train()
        for m in block.modules():  # a trained block: no zero γ anywhere (it does not change the cost)
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                nn.init.ones_(m.weight)
        x = torch.randn(shape, device=device, requires_grad=True)  # inside a network its input needs grad too
        cuda = device.startswith("cuda")
        if cuda:
            torch.cuda.set_per_process_memory_fraction(min(1.0, cap_bytes / torch.cuda.get_device_properties(0).total_memory))
        else:
            torch.ones(64, 64) @ torch.ones(64, 64)  # start the thread pool before the cap
            vm = _proc_status_kib("VmSize") * 1024
            resource.setrlimit(resource.RLIMIT_AS, (vm + cap_bytes, resource.RLIM_INFINITY))
        for _ in range(warmup):
            _train_step(block, x)
        if cuda:
            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            _train_step(block, x)
            torch.cuda.synchronize()
            point.peak_bytes = torch.cuda.max_memory_allocated() - base
        else:
            base = _proc_status_kib("VmRSS") * 1024
            _reset_peak_rss()
            _train_step(block, x)
            point.peak_bytes = _proc_status_kib("VmHWM") * 1024 - base
        for _ in range(repeats):
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            _train_step(block, x)
            if cuda:
                torch.cuda.synchronize()
            point.times_s.append(time.perf_counter() - start)
    except BaseException as error:  # noqa: BLE001 -- the parent must get a row, whatever happened
        if _is_oom(error):
            point.status = "OOM"
            point.detail = str(error).splitlines()[0][:200]
        else:
            point.status = f"error: {type(error).__name__}"
            point.detail = traceback.format_exc(limit=3)[-500:]
    conn.send(asdict(point))
    conn.close()


def measure(block_name: str, shape: tuple[int, ...], args: argparse.Namespace) -> Point:
    """Measure one point in a fresh child process (a crash or kill becomes an error row)."""
    ctx = mp.get_context("forkserver")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_run_point, args=(block_name, shape, args.device, args.warmup, args.repeats,
                                                 int(args.mem_cap_gib * GIB), send))
    child.start()
    send.close()
    try:
        result = receive.recv()
    except EOFError:
        result = None
    finally:
        if child.is_alive() and sys.exc_info()[0] is not None:
            child.kill()  # interrupted: do not leave a multi-GiB step running
    child.join()
    if result is None:
        return Point(block_name, shape, status=f"died (exit code {child.exitcode})")
    point = _point(result)
    if args.verbose:
        print(f"  {block_name:13s} {shape}: {format_point(point)}", file=sys.stderr, flush=True)
    return point


def format_point(point: Point) -> str:
    if point.status != "ok":
        return point.status
    return f"best {point.best_s * 1000:.0f} ms, median {point.median_s * 1000:.0f} ms, {point.peak_bytes / MIB:.0f} MiB"


def _ms(point: Point) -> str:
    return f"{point.best_s * 1000:,.0f}" if point.status == "ok" else point.status


def _mib(point: Point) -> str:
    return f"{point.peak_bytes / MIB:,.0f}" if point.status == "ok" else point.status


def _ratio(num: Point, den: Point) -> str:
    if num.status != "ok" or den.status != "ok":
        return "–"
    return f"{num.best_s / den.best_s:.1f}×"


def part_a(args: argparse.Namespace) -> dict[int, dict[str, Point]]:
    return {d: {name: measure(name, (1, 512, d, 28, 28), args) for name in PART_A_BLOCKS} for d in args.depths}


def print_part_a(rows: dict[int, dict[str, Point]]) -> None:
    print("\n### Part A: A² vs non-local, c = 512, h = w = 28, batch 1 (forward + backward)\n")
    print("| d | L | A² left ms | A² right ms | NL ms | NL-sub ms | NL / A² left | NL-sub / A² left "
          "| A² left MiB | A² right MiB | NL MiB | NL-sub MiB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for d, r in sorted(rows.items()):
        cells = [str(d), f"{d * 784:,}"] + [_ms(r[n]) for n in PART_A_BLOCKS]
        cells += [_ratio(r["nonlocal"], r["a2_left"]), _ratio(r["nonlocal_sub"], r["a2_left"])]
        cells += [_mib(r[n]) for n in PART_A_BLOCKS]
        print("| " + " | ".join(cells) + " |")
    depths = sorted(rows)
    first = depths[0]
    print(f"\nPeak memory relative to d = {first} (L grows ×d/{first}, L² grows ×(d/{first})²):\n")
    print("| d | L ratio | L² ratio | " + " | ".join(PART_A_BLOCKS) + " |")
    print("|---:|---:|---:|" + "---:|" * len(PART_A_BLOCKS))
    for d in depths:
        cells = [str(d), f"{d / first:g}", f"{(d / first) ** 2:g}"]
        for name in PART_A_BLOCKS:
            base, point = rows[first][name], rows[d][name]
            ok = base.status == "ok" and point.status == "ok" and base.peak_bytes > 0
            cells.append(f"{point.peak_bytes / base.peak_bytes:.1f}" if ok else "–")
        print("| " + " | ".join(cells) + " |")


def part_b(args: argparse.Namespace) -> dict[str, Point]:
    results = {}
    for name in args.blocks:
        for stage, shape in PART_B_SHAPES.items():
            cost = measure_cost(BLOCKS[name](shape[1]), shape)
            point = measure(name, shape, args)
            point.params, point.macs = cost.params, cost.macs
            results[f"{name}/{stage}"] = point
    return results


def print_part_b(results: dict[str, Point]) -> None:
    print("\n### Part B: every block at the res3 / res4 shapes of an 8×224² clip (batch 1, forward + backward)\n")
    print("| block | stage | input | params (K) | GMACs | time ms | peak MiB |")
    print("|---|---|---|---:|---:|---:|---:|")
    for key, point in results.items():
        name, stage = key.split("/")
        dims = "×".join(str(s) for s in point.shape[1:])
        print(f"| {name} | {stage} | {dims} | {point.params / 1e3:,.1f} | {point.macs / 1e9:.3f} | {_ms(point)} "
              f"| {_mib(point)} |")


def part_c(args: argparse.Namespace) -> dict[str, dict[str, int]]:
    results = {}
    for name in list_models():
        with torch.device("meta"):  # no weights materialised: counting only
            model = create_model(name, num_classes=400)
        cost = measure_cost(model, (1, 3, 8, 224, 224))
        results[name] = {"params": cost.params, "macs": cost.macs, "attention_macs": cost.attention_macs}
    return results


def print_part_c(results: dict[str, dict[str, int]]) -> None:
    print("\n### Part C: whole models at 8×224² (one view, 400 classes)\n")
    print("| model | params (M) | GMACs | of which attention blocks |")
    print("|---|---:|---:|---:|")
    for name, cost in results.items():
        print(f"| {name} | {cost['params'] / 1e6:.2f} | {cost['macs'] / 1e9:.2f} | {cost['attention_macs'] / 1e9:.2f} |")


def _combine(old: Point | None, new: Point) -> Point:
    """The same point from two runs: all timed steps together, the larger peak."""
    if old is None or old.status != "ok":
        return new
    if new.status != "ok":
        return old
    old.times_s = old.times_s + new.times_s
    old.peak_bytes = max(old.peak_bytes, new.peak_bytes)
    return old


def load_runs(paths: list[str]) -> dict:
    """Merge saved ``--json`` results of several runs of the same code on the same machine."""
    merged: dict = {"machine": set(), "a": {}, "b": {}, "c": {}}
    for path in paths:
        with open(path) as f:
            run = json.load(f)
        merged["machine"].add(run["machine"])
        for d, row in run.get("a", {}).items():
            target = merged["a"].setdefault(int(d), {})
            for name, point in row.items():
                target[name] = _combine(target.get(name), _point(point))
        for key, point in run.get("b", {}).items():
            merged["b"][key] = _combine(merged["b"].get(key), _point(point))
        merged["c"].update(run.get("c", {}))
    return merged


def _point(saved: dict) -> Point:
    return Point(**{**saved, "shape": tuple(saved["shape"])})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", nargs="+", choices=["a", "b", "c"], default=["a", "b", "c"])
    parser.add_argument("--depths", nargs="+", type=int, default=[4, 8, 16, 32], help="part A clip depths d")
    parser.add_argument("--blocks", nargs="+", choices=list(BLOCKS), default=list(PART_B_BLOCKS),
                        help="part B blocks")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per point (the fastest is shown)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps before measuring")
    parser.add_argument("--mem-cap-gib", type=float, default=6.0,
                        help="address space (CPU) or device memory (CUDA) a point may add before it is OOM")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="part A at d = 4, 8 only, 1 repeat")
    parser.add_argument("--json", help="also write all results to this file")
    parser.add_argument("--verbose", action="store_true", help="print each point as it finishes (stderr)")
    parser.add_argument("--merge", nargs="+", metavar="JSON",
                        help="measure nothing: print the tables from saved --json runs, per point the best step")
    args = parser.parse_args(argv)
    # SIGTERM as an exception, so the running child is killed too (see measure).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.quick:
        args.depths = [d for d in args.depths if d <= 8]
        args.repeats = 1
    # Fixed mmap threshold: large freed tensors go straight back to the OS, so one step's resident
    # growth is not hidden by memory glibc kept from the warm-up (children inherit the variable).
    os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", str(256 * 1024))
    # Children fork from a server that has imported torch once, instead of each paying seconds of
    # imports; the server itself allocates nothing, so each child's memory is its own.
    mp.set_forkserver_preload(["torch", "a2video.layers"])
    if args.merge:
        merged = load_runs(args.merge)
        print("merged runs: " + "; ".join(sorted(merged["machine"])) + " (times: best step over all runs)")
        for part, show in (("a", print_part_a), ("b", print_part_b), ("c", print_part_c)):
            if merged[part] and part in args.parts:
                show(merged[part])
        return
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
               f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    if args.device.startswith("cuda"):
        machine += f" ({torch.cuda.get_device_name(0)})"
    print(f"# bench_attention: {' '.join(sys.argv[1:]) or '(defaults)'}\n{machine}; "
          f"warmup {args.warmup}, repeats {args.repeats} (times: best of them), cap {args.mem_cap_gib:g} GiB; "
          f"load average at start {os.getloadavg()[0]:.1f}")
    if args.device == "cpu" and os.getloadavg()[0] > 0.5:
        print("warning: other processes are using the CPU; times will be inflated (peak memory is not affected)")
    started = time.time()
    results: dict = {"machine": machine, "args": vars(args)}
    for part, run, show in (("a", part_a, print_part_a), ("b", part_b, print_part_b), ("c", part_c, print_part_c)):
        if part in args.parts:
            results[part] = run(args)
            show(results[part])
            sys.stdout.flush()
    print(f"\n(total {time.time() - started:.0f} s)")
    if args.json:
        saved = dict(results)
        if "a" in results:
            saved["a"] = {str(d): {n: asdict(p) for n, p in row.items()} for d, row in results["a"].items()}
        if "b" in results:
            saved["b"] = {key: asdict(p) for key, p in results["b"].items()}
        with open(args.json, "w") as f:
            json.dump(saved, f, indent=1)


if __name__ == "__main__":
    main()
