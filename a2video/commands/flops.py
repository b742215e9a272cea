"""``a2video flops``: parameters and multiply-accumulates of one view of a model."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from a2video.models.cost import measure_cost
from a2video.models.registry import create_model, get_builder, list_models, models_table
from a2video.threads import add_threads_argument


def configure_flops(parser: argparse.ArgumentParser) -> None:
    parser.description = "Parameters and GMACs (multiply-adds, attention matmuls included) of one view."
    parser.add_argument("--model", nargs="+", default=["i3d_r50", "a2net_r50"],
                        help=f"model names, or 'all' (choices: {', '.join(list_models())})")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=224, help="square crop side")
    parser.add_argument("--num-classes", type=int, default=400)
    parser.add_argument("--base-width", type=int, default=64)
    parser.add_argument("--list", action="store_true",
                        help="print each model's backbone, attention blocks, ImageNet counterpart and known "
                             "checkpoints, and exit")
    add_threads_argument(parser)


def run_flops(args: argparse.Namespace) -> None:
    if args.list:
        print(models_table())
        return
    names = list_models() if args.model == ["all"] else args.model
    for name in names:
        get_builder(name)  # an unknown name is a one-line error before any model is built
    print(cost_table(names, frames=args.frames, size=args.size, num_classes=args.num_classes,
                     base_width=args.base_width))


def cost_table(names: Sequence[str], *, frames: int, size: int, num_classes: int, base_width: int) -> str:
    """A text table of params, GMACs and the attention blocks' share for each model."""
    header = f"{'model':<12} {'input':>14} {'params (M)':>11} {'GMACs':>8} {'attention GMACs':>16}"
    lines = [header, "-" * len(header)]
    for name in names:
        model = create_model(name, num_classes=num_classes, base_width=base_width)
        cost = measure_cost(model, (1, 3, frames, size, size))
        lines.append(f"{name:<12} {f'3x{frames}x{size}x{size}':>14} {cost.mparams:>11.2f} "
                     f"{cost.gmacs:>8.2f} {cost.attention_macs / 1e9:>16.2f}")
    return "\n".join(lines)
