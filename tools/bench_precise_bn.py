"""What precise BN and the fully convolutional test head cost, as ratios measured in one run.

Three timings of the same network on random clips already on the device (decoding not measured):

- a training step (forward, backward, SGD with momentum) on a ``--batch`` of training clips;
- one precise-BN batch (``update_bn_statistics`` on the same batch: a forward without gradients, the
  BatchNorm layers in training mode);
- an evaluation forward of a ``--batch`` of test views, pooled globally and fully convolutionally.

The three alternate over ``--repeats`` rounds and the fastest of each is kept (other jobs only ever
slow a step down). From the first ratio, the share of an epoch that ``--precise-batches`` batches
add when ``--epoch-steps`` training steps make an epoch (Kinetics-400: 240k clips / 64 = 3750).

    python tools/bench_precise_bn.py                       # a2net_r50, 8x224^2 training, 8x256^2 test
    python tools/bench_precise_bn.py --size 128 --test-size 160 --batch 2   # a CPU run (2x2 test windows)
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import torch

from a2video.engine.precise_bn import update_bn_statistics
from a2video.files import atomic_write_text
from a2video.models import create_model


def fastest(fn: Callable[[], None], *, device: torch.device) -> float:
    """Seconds of one call of ``fn``."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="a2net_r50")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=224, help="training crop")
    parser.add_argument("--test-size", type=int, default=256, help="test crop")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precise-batches", type=int, default=200)
    parser.add_argument("--epoch-steps", type=int, default=3750)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.manual_seed(0)
    train_clip = (args.frames, args.size, args.size)
    model = create_model(args.model, num_classes=400, fully_conv_clip=train_clip).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    clips = torch.randn(args.batch, 3, *train_clip, device=device)
    views = torch.randn(args.batch, 3, args.frames, args.test_size, args.test_size, device=device)
    labels = torch.randint(0, 400, (args.batch,), device=device)

    def train_step() -> None:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(clips), labels).backward()
        optimizer.step()

    def precise_batch() -> None:
        update_bn_statistics(model, [clips])

    def evaluate(fully_conv: bool) -> Callable[[], None]:
        def run() -> None:
            model.eval()
            window, model.fully_conv_window = model.fully_conv_window, (model.fully_conv_window if fully_conv else None)
            with torch.no_grad():
                model(views)
            model.fully_conv_window = window
        return run

    timings = {"train_step": train_step, "precise_bn_batch": precise_batch, "test_global_pool": evaluate(False),
               "test_fully_conv": evaluate(True)}
    for fn in timings.values():  # warm-up
        fn()
    best = {name: float("inf") for name in timings}
    for _ in range(args.repeats):
        for name, fn in timings.items():
            best[name] = min(best[name], fastest(fn, device=device))
    ratio = best["precise_bn_batch"] / best["train_step"]
    results = {
        "config": vars(args), "device": str(device), "threads": torch.get_num_threads(),
        "seconds": best,
        "precise_bn_batch_over_train_step": ratio,
        "precise_bn_share_of_epoch": args.precise_batches * ratio / args.epoch_steps,
        "fully_conv_over_global_pool": best["test_fully_conv"] / best["test_global_pool"],
    }
    print(json.dumps(results, indent=2))
    if args.json:
        atomic_write_text(args.json, json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
