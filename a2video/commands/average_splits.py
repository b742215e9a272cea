"""``a2video average-splits``: the mean of several splits' ``metrics.json``."""

from __future__ import annotations

import argparse
import json

from a2video.evaluation.splits import average_splits, format_split_table
from a2video.files import atomic_write_text


def configure_average_splits(parser: argparse.ArgumentParser) -> None:
    parser.description = "Average the metrics.json of several splits (e.g. UCF-101 splits 1-3) into one table."
    parser.add_argument("metrics", nargs="+", help="metrics.json files, one per split")
    parser.add_argument("--names", nargs="+", help="split names for the table (default: from the paths)")
    parser.add_argument("--out", help="also write the per-split values and the mean to this JSON file")


def run_average_splits(args: argparse.Namespace) -> None:
    result = average_splits(args.metrics, names=args.names)
    print(format_split_table(result))
    if args.out:
        atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
        print(f"written to {args.out}")
