"""``a2video check``: scan the videos of list files or folders before a run; writes a CSV of the bad and odd ones."""

from __future__ import annotations

import argparse
import csv
import io
import os
import time
from dataclasses import asdict
from pathlib import Path

from a2video.cores import usable_cores
from a2video.data.decoding import (
    FAST_BACKENDS,
    check_backend,
)
from a2video.data.lists import read_list
from a2video.data.sampling import clip_span
from a2video.files import atomic_write, check_writable
from a2video.preparation.check import CheckError, VideoCheck, check_videos, summary
from a2video.preparation.scan import find_videos


def _csv_bytes(rows: list[VideoCheck], video_root: str) -> bytes:
    text = io.StringIO()
    fields = list(VideoCheck.__dataclass_fields__)
    writer = csv.DictWriter(text, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        record = asdict(row)
        record["path"] = os.path.relpath(row.path, video_root)
        record["seconds"] = f"{row.seconds:.4f}"
        writer.writerow(record)
    return text.getvalue().encode()


def configure_check(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``a2video check``."""
    parser.description = "Scan a list file or a folder of videos for unreadable, zero-frame, too-short and odd files."
    parser.add_argument("list_or_root", help="a list file (`path label` lines) or a folder searched for videos")
    parser.add_argument("--video-root", help="folder the list's paths are relative to (needed for a list file)")
    parser.add_argument("--num-frames", type=int, default=8, help="frames per clip (for too-short)")
    parser.add_argument("--sampling-rate", type=int, default=8, help="stride between clip frames (for too-short)")
    parser.add_argument("--target-fps", type=float, default=None, help="count clips at this frame rate, as data.target_fps")
    parser.add_argument("--workers", type=int, default=usable_cores(), help="processes (default: all cores)")
    parser.add_argument("--out", default="check_report.csv", help="CSV report (default: check_report.csv)")
    parser.add_argument("--all", action="store_true", help="list every video in the report, not only the problems")
    parser.add_argument("--backend", default="decord", choices=list(FAST_BACKENDS),
                        help="the decoder the runs will use; files it cannot decode are flagged pyav_only")  # fmt: skip


def _paths(args: argparse.Namespace) -> tuple[list[str], str]:
    target = Path(args.list_or_root)
    if target.is_dir():
        root = str(args.video_root or target)
        return [os.path.join(target, path) for path in find_videos(target)], root
    if not target.is_file():
        raise CheckError(f"{target}: no such list file or folder")
    if args.video_root is None:
        raise CheckError(f"{target} is a list file: give --video-root, the folder its paths are relative to")
    if not Path(args.video_root).is_dir():
        raise CheckError(f"video root {args.video_root} does not exist or is not a folder")
    return [os.path.join(args.video_root, path) for path, _ in read_list(target)], str(args.video_root)


def run_check(args: argparse.Namespace) -> None:
    """Checks the videos, writes the CSV report and prints the summary.

    Raises:
        CheckError: If the list or folder cannot be used, or an option is out of range.
        ListFileError: On a malformed list line (file and line named).
        ConfigError: If ``--backend torchcodec`` cannot be used here.
    """
    check_backend(args.backend)
    if min(args.num_frames, args.sampling_rate, args.workers) < 1 or (args.target_fps is not None and args.target_fps <= 0):
        raise CheckError("--num-frames, --sampling-rate and --workers must be >= 1, --target-fps > 0")
    paths, root = _paths(args)
    if not paths:
        raise CheckError(f"no videos in {args.list_or_root}")
    check_writable(args.out)  # found now, not after every video
    start = time.perf_counter()
    rows = check_videos(paths, span=clip_span(args.num_frames, args.sampling_rate), target_fps=args.target_fps,
                        workers=args.workers, backend=args.backend)  # fmt: skip
    seconds = time.perf_counter() - start
    listed = rows if args.all else [row for row in rows if row.status != "ok"]
    atomic_write(args.out, lambda f: f.write(_csv_bytes(listed, root)))
    print(summary(rows, seconds, args.workers))
    print(f"report ({len(listed)} rows): {args.out}")
