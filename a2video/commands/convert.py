"""``a2video convert``: PySlowFast, pytorchvideo or mmaction2 weights to an a2video checkpoint."""

from __future__ import annotations

import argparse


def configure_convert(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Turn a checkpoint of any format the weight reader knows (PySlowFast, pytorchvideo, "
                          "mmaction2, a plain state dict, a known name such as pytorchvideo:i3d_r50_k400) into an "
                          "a2video checkpoint that holds its network, preprocessing and class names.")
    parser.add_argument("source", nargs="?", help="checkpoint file or known name (--list shows the names)")
    parser.add_argument("out", nargs="?", help="the a2video checkpoint to write (.ckpt)")
    parser.add_argument("--model", default=None,
                        help="a2video model to load it into (default: the checkpoint's or the table's; e.g. "
                             "a2net_r50 adds A² blocks at identity to an I3D checkpoint)")
    parser.add_argument("--classes", default=None, help="classes.txt naming the classifier's outputs")
    parser.add_argument("--list", action="store_true", help="print the known public checkpoints and exit")


def run_convert(args: argparse.Namespace) -> None:
    from a2video.errors import ConfigError
    from a2video.models.hub import known_checkpoints_table
    from a2video.models.trained import load_trained, save_a2video_checkpoint

    if args.list:
        print(known_checkpoints_table())
        return
    if not args.source or not args.out:
        raise ConfigError("convert needs SOURCE and OUT (`a2video convert --help`)")
    trained = load_trained(args.source, model=args.model, classes_file=args.classes)
    path = save_a2video_checkpoint(trained, args.out)
    print(f"{args.source} → {path}: {trained.model_name}, {trained.num_classes} classes; {trained.report.summary()}")
    print(f"preprocessing: {trained.preprocessing.describe()}")
