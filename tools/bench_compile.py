"""What ``model.compile`` does to a training step: first-step (compilation) time and steady step time, against eager.

Runs the demo's network (or any registered one) through forward, backward and an SGD step, eager
and compiled, in one process, alternating rounds; prints a table and the compiled/eager ratio.
For a cold compilation, give inductor an empty cache:

    TORCHINDUCTOR_CACHE_DIR=$(mktemp -d) python tools/bench_compile.py
    python tools/bench_compile.py --model a2net_r50 --base-width 64 --batch 2 --size 112
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from a2video.engine.module import VideoClassifier


def step_times(module: VideoClassifier, clips: torch.Tensor, steps: int) -> list[float]:
    optimizer = torch.optim.SGD(module.parameters(), lr=0.01, momentum=0.9)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        module(clips).float().logsumexp(dim=1).mean().backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return times


def build(args: argparse.Namespace, compiled: bool) -> VideoClassifier:
    module = VideoClassifier(model=args.model, base_width=args.base_width, channels_last=not args.no_channels_last,
                             compile=compiled, model_kwargs={"zero_init_residual": True})
    module.build(10, load_initial_weights=False)
    return module.train()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="a2net_r26")
    parser.add_argument("--base-width", type=int, default=8)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=32, help="crop side")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the demo trains with 1 beside 2 workers)")
    parser.add_argument("--steps", type=int, default=15, help="timed steps per round after the first")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-channels-last", action="store_true")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    clips = torch.randn(args.batch, 3, args.frames, args.size, args.size)
    modules = {"eager": build(args, False), "compiled": build(args, True)}
    first = {name: step_times(module, clips, 1)[0] for name, module in modules.items()}  # compiles here
    steady: dict[str, list[float]] = {name: [] for name in modules}
    for _ in range(args.rounds):
        for name, module in modules.items():
            steady[name].append(statistics.median(step_times(module, clips, args.steps)))

    print(f"# {args.model} width {args.base_width}, batch {args.batch} x {args.frames} x {args.size}², "
          f"{args.threads} thread(s), channels_last {not args.no_channels_last}, torch {torch.__version__}")
    print("| mode | first step s | steady step s (median of round medians) | rounds |")
    print("|---|---:|---:|---|")
    for name in modules:
        rounds = ", ".join(f"{t:.4f}" for t in steady[name])
        print(f"| {name} | {first[name]:.1f} | {statistics.median(steady[name]):.4f} | {rounds} |")
    ratio = statistics.median(steady["compiled"]) / statistics.median(steady["eager"])
    print(f"compiled / eager steady step: {ratio:.2f}x; compilation ~{first['compiled'] - first['eager']:.0f} s per launch")


if __name__ == "__main__":
    main()
