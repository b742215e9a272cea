"""``a2video prepare``: re-encode a dataset for fast loading (resumable, one worker process per core)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from a2video.cores import usable_cores
from a2video.preparation.prepare import (
    X264_PRESETS,
    PrepareError,
    format_summary,
    prepare_dataset,
)
from a2video.preparation.transcode import (
    PrepareSettings,
)


def configure_prepare(parser: argparse.ArgumentParser) -> None:
    """Adds the arguments of ``a2video prepare SRC_ROOT DST_ROOT ...``."""
    parser.description = (
        "Re-encode every video (of --lists, or the whole tree) for fast training: short side scaled down, "
        "H.264 with a key frame every --gop frames, no audio, same frame rate and frames. Resumable: run the "
        "same command again after an interruption. Writes prepare_report.csv (inputs left out) and the lists."
    )
    parser.add_argument("src_root", help="folder of the raw videos")
    parser.add_argument("dst_root", help="output folder (new, empty, or an earlier run's)")
    parser.add_argument("--short-side", type=int, default=320, help="short side in pixels, never scaled up (default 320)")
    parser.add_argument("--gop", type=int, default=16, help="frames between key frames (default 16)")
    parser.add_argument("--crf", type=int, default=23, help="x264 quality, lower = better and larger (default 23)")
    parser.add_argument("--preset", default="veryfast", help="x264 preset, ultrafast ... veryslow (default veryfast)")
    parser.add_argument("--workers", type=int, default=usable_cores(), help="processes (default: all usable cores)")
    parser.add_argument("--lists", nargs="+", default=[], help="list files of the videos to prepare (paths relative "
                        "to SRC_ROOT); written again into DST_ROOT for the prepared videos")  # fmt: skip
    parser.add_argument("--classes", help="classes.txt of --lists (default: the one beside the first list)")
    parser.add_argument("--min-frames", type=int, default=1, help="leave out inputs with fewer frames (default 1: keep "
                        "every readable video; the loader loops short ones)")  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_prepare(args: argparse.Namespace) -> None:
    """Runs ``a2video prepare`` and prints its summary.

    Raises:
        PrepareError: On a bad argument or destination, or a write error; ListFileError on a bad list.
        KeyboardInterrupt: After Ctrl-C, once the report is written and the workers are stopped.
    """
    if args.short_side < 2 or args.gop < 1 or not 0 <= args.crf <= 51 or args.min_frames < 1 or args.workers < 0:
        raise PrepareError("need --short-side >= 2, --gop >= 1, 0 <= --crf <= 51, --min-frames >= 1, --workers >= 0")
    if args.preset not in X264_PRESETS:
        raise PrepareError(f"--preset must be one of {', '.join(X264_PRESETS)}, got {args.preset!r}")
    settings = PrepareSettings(short_side=args.short_side, gop=args.gop, crf=args.crf, preset=args.preset)
    try:
        with _sigterm_as_interrupt():
            summary = prepare_dataset(
                args.src_root, args.dst_root, settings, lists=args.lists, classes_file=args.classes,
                workers=args.workers, min_frames=args.min_frames, progress=not args.no_progress,
            )  # fmt: skip
    except KeyboardInterrupt:
        print(f"a2video prepare: interrupted; finished videos are kept in {args.dst_root}, run the same command "
              "again to continue")  # fmt: skip
        raise
    print(format_summary(summary, Path(args.dst_root), settings, args.workers))


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """``kill`` stops a run like Ctrl-C: workers stopped, report written, temporary files removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
