"""``a2video views``: the frame numbers, times, pts and crops of each test view of some videos."""

from __future__ import annotations

import argparse
import json

from a2video.data.clips import ClipSpec
from a2video.data.decoding import VideoDecodeError
from a2video.data.views import describe_test_views
from a2video.errors import A2VideoError
from a2video.files import atomic_write_text, check_writable
from a2video.inference.runner import add_clip_arguments, view_spec
from a2video.models.trained import load_trained


def configure_views(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``a2video views VIDEO... [-c X] [clip options] [--json FILE]``."""
    parser.description = ("Print which frames (numbers, times, pts) and crops make each test view of the given "
                          "videos, as `a2video test` makes them: a checkpoint's saved clip spec, or the clip "
                          "options given here on a2video's defaults. To compare with another toolkit's indices.")
    parser.add_argument("videos", nargs="+", help="video files")
    parser.add_argument("--checkpoint", "-c", "--ckpt", dest="checkpoint", default=None,
                        help="take the clip spec saved in this a2video checkpoint (the options below change it)")
    add_clip_arguments(parser)
    parser.add_argument("--json", help="also write the views of every video to this JSON file")


def run_views(args: argparse.Namespace) -> None:
    """Prints each video's views; writes ``--json``.

    Raises:
        A2VideoError: An unreadable checkpoint or video (named).
        ConfigError: Clip options that contradict each other.
    """
    if args.json:
        check_writable(args.json, option="--json")
    clip = view_spec(load_trained(args.checkpoint) if args.checkpoint else ClipSpec(), args)
    described, failed = [], []
    for path in args.videos:
        try:
            views = describe_test_views(path, clip)
        except VideoDecodeError as error:  # the other videos are still described
            failed.append(path)
            described.append({"path": path, "error": error.reason})
            print(f"{path}: cannot read: {error.reason}")
            continue
        described.append(views.to_dict())
        print("\n".join(views.lines()))
    if args.json:
        atomic_write_text(args.json, json.dumps({"clip": clip.to_dict(), "videos": described}, indent=1) + "\n")
        print(f"written to {args.json}")
    if failed:
        raise A2VideoError(f"{len(failed)} of {len(args.videos)} videos could not be read: {', '.join(failed[:3])}"
                           + (" ..." if len(failed) > 3 else ""))

