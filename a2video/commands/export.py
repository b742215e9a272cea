"""``a2video export``: TorchScript, ONNX and torch.export files of a trained model, with ``preprocessing.json``."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from a2video.errors import ConfigError
from a2video.files import atomic_write_text
from a2video.inference.export import (
    EXPORTERS,
    FILE_NAMES,
    FORMATS,
    ExportError,
    export_metadata,
    relative_difference,
)
from a2video.models.trained import load_trained
from a2video.threads import add_threads_argument


def configure_export(parser: argparse.ArgumentParser) -> None:
    parser.description = "Export a trained model (TorchScript, ONNX, torch.export) with a preprocessing.json."
    parser.add_argument("checkpoint", nargs="?", help="a2video checkpoint, known name or another toolkit's file "
                        "(or -c/--checkpoint, as on the other commands)")
    parser.add_argument("--checkpoint", "-c", "--ckpt", dest="checkpoint_option", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default="exported", help="output folder (default: ./exported)")
    parser.add_argument("--format", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--model", default=None, help="a2video model to build (default: the checkpoint's)")
    parser.add_argument("--classes", default=None, help="classes.txt when the checkpoint holds no class names")
    parser.add_argument("--size", type=int, default=None, help="input side (default: the test crop)")
    parser.add_argument("--rtol", type=float, default=1e-4, help="largest accepted relative difference")
    add_threads_argument(parser)


def run_export(args: argparse.Namespace) -> None:
    source = args.checkpoint or args.checkpoint_option
    if source is None or (args.checkpoint and args.checkpoint_option):
        raise ConfigError("give the checkpoint once: `a2video export CHECKPOINT` or `a2video export -c CHECKPOINT`")
    trained = load_trained(source, model=args.model, classes_file=args.classes)
    p = trained.preprocessing
    example = torch.randn(2, 3, p.num_frames, args.size or p.test_crop_size, args.size or p.test_crop_size,
                          generator=torch.Generator().manual_seed(0))  # (N, C, T, H, W)
    out = Path(args.out)
    for fmt in args.format:
        path = out / FILE_NAMES[fmt]
        run_exported = EXPORTERS[fmt](trained.net, example, path)
        error = relative_difference(run_exported(example), trained.net(example).detach())
        if not error <= args.rtol:
            raise ExportError(f"{path}: output differs from the eager model by {error:.2e} (relative), more than "
                              f"--rtol {args.rtol:g}")
        print(f"{fmt:<12} {path}  (max relative difference to eager: {error:.1e})")
    atomic_write_text(out / "preprocessing.json", export_metadata(trained, example.shape))
    print(f"{out / 'preprocessing.json'}: {p.describe()}; {trained.num_classes} classes")
