"""``a2video synth``: generate the synthetic motion video sets."""

from __future__ import annotations

import argparse

from a2video.preparation.synthetic import MOTION_PAIRS, make_synthetic_set


def configure_synth(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Generate a synthetic motion dataset (H.264 mp4s, list files, classes.txt). "
                          "Skips the work when the same set is already complete.")
    parser.add_argument("--out", required=True, help="parent folder; the set goes to OUT/<set>/")
    parser.add_argument("--set", dest="set_name", choices=sorted(MOTION_PAIRS), default="source",
                        help="source: 10 classes for pre-training; target: 8 other classes for fine-tuning")  # fmt: skip
    parser.add_argument("--videos-per-class", type=int, default=24, help="videos per class over train/val/test")
    parser.add_argument("--frames", type=int, default=32, help="frames per video")
    parser.add_argument("--size", type=int, default=64, help="frame side in pixels (even)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")


def run_synth(args: argparse.Namespace) -> None:
    made = make_synthetic_set(
        args.out, args.set_name, args.videos_per_class, args.frames, args.size, args.seed, workers=args.workers
    )
    print(
        f"{len(made.class_names)} classes in {made.root}\n"
        f"  video_root:   {made.video_root}\n"
        f"  train_list:   {made.train_list}\n"
        f"  val_list:     {made.val_list}\n"
        f"  test_list:    {made.test_list}\n"
        f"  classes_file: {made.classes_file}"
    )
