"""Command-line entry points of the evaluation package (wired into ``a2video`` by ``cli.py``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from a2video.evaluation.splits import MetricsFileError, average_splits, format_split_table
from a2video.evaluation.writers import atomic_write_text


def average_splits_main(argv: Sequence[str] | None = None) -> int:
    """``a2video average-splits``: prints per-split accuracies and their mean.

    Args:
        argv: Arguments after the subcommand name (``sys.argv[2:]`` style); None reads
            ``sys.argv[1:]``.

    Returns:
        0 on success, 1 if a metrics file is missing or malformed (one-line message on stderr).
        Usage errors exit through argparse with status 2.
    """
    parser = argparse.ArgumentParser(
        prog="a2video average-splits",
        description="Average the metrics.json of several splits (e.g. UCF-101 splits 1-3) into one table.",
    )
    parser.add_argument("metrics", nargs="+", help="metrics.json files, one per split")
    parser.add_argument("--names", nargs="+", help="split names for the table (default: from the paths)")
    parser.add_argument("--out", help="also write the per-split values and the mean to this JSON file")
    args = parser.parse_args(argv)
    try:
        result = average_splits(args.metrics, names=args.names)
    except (MetricsFileError, ValueError) as exc:
        print(f"a2video average-splits: error: {exc}", file=sys.stderr)
        return 1
    print(format_split_table(result))
    if args.out:
        try:
            atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
        except OSError as exc:
            print(f"a2video average-splits: error: cannot write {args.out}: {exc}", file=sys.stderr)
            return 1
        print(f"written to {args.out}")
    return 0
