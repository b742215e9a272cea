"""Averaging the ``metrics.json`` of several splits (UCF-101 reports the mean of its 3 splits)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from a2video.errors import A2VideoError, ConfigError

# (key in metrics.json, column title)
ACCURACY_COLUMNS = (
    ("clip_top1", "clip@1"),
    ("clip_top5", "clip@5"),
    ("video_top1", "video@1"),
    ("video_top5", "video@5"),
    ("mean_class_accuracy", "mean class"),
)
ACCURACY_KEYS = tuple(key for key, _ in ACCURACY_COLUMNS)
COUNT_KEYS = ("num_videos", "num_failed_videos")


class MetricsFileError(A2VideoError):
    """A metrics file is missing, unreadable, or lacks a required key."""


def load_metrics(path: str | os.PathLike) -> dict[str, Any]:
    """Reads one ``metrics.json`` and checks it holds the accuracy and count keys.

    Args:
        path: The file.

    Returns:
        Its content.

    Raises:
        MetricsFileError: Naming the file, if it is missing, not a JSON object, or lacks one of
            ``ACCURACY_KEYS`` / ``COUNT_KEYS`` as a finite number.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MetricsFileError(f"{path}: no such metrics file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MetricsFileError(f"{path}: cannot read metrics file ({exc})") from None
    if not isinstance(data, dict):
        raise MetricsFileError(f"{path}: expected a JSON object, got {type(data).__name__}")
    for key in ACCURACY_KEYS + COUNT_KEYS:
        value = data.get(key)
        # bool is an int subclass; a true/false accuracy is a malformed file, not 1 or 0.
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise MetricsFileError(f"{path}: missing or non-numeric key {key!r}")
    return data


def average_splits(
    metric_files: Sequence[str | os.PathLike], names: Sequence[str] | None = None
) -> dict[str, Any]:
    """Per-split values and their unweighted mean (each split counts once, as papers report it).

    Args:
        metric_files: ``metrics.json`` paths, one per split.
        names: Split names for the table; by default the parts of the paths that differ
            (``runs/split1/metrics.json``, ``runs/split2/metrics.json`` -> ``split1``, ``split2``).

    Returns:
        ``{"splits": [{"name", "file", <ACCURACY_KEYS>, <COUNT_KEYS>}, ...],
        "mean": {<ACCURACY_KEYS>}, "total": {<COUNT_KEYS>}, "num_splits": int}``.

    Raises:
        MetricsFileError: If a file is missing or lacks a key (the message names the file).
        ValueError: If no file is given or ``names`` has the wrong length.
    """
    if not metric_files:
        raise ConfigError("average_splits needs at least one metrics file")
    names = list(names) if names is not None else split_names(metric_files)
    if len(names) != len(metric_files):
        raise ConfigError(f"{len(names)} names for {len(metric_files)} metrics files")
    splits = []
    seen: dict[bytes, str] = {}
    for name, path in zip(names, metric_files):
        content = Path(path).read_bytes() if Path(path).is_file() else None
        if content is not None and content in seen:  # one run given twice (the same file, or a copy)
            same = "the same file" if os.path.realpath(path) == os.path.realpath(seen[content]) else "identical files"
            raise ConfigError(f"{seen[content]} and {path} are one run ({same}), not two splits")
        if content is not None:
            seen[content] = str(path)
        data = load_metrics(path)
        splits.append({"name": name, "file": str(path), **{k: data[k] for k in ACCURACY_KEYS + COUNT_KEYS}})
    return {
        "splits": splits,
        "mean": {k: sum(s[k] for s in splits) / len(splits) for k in ACCURACY_KEYS},
        "total": {k: sum(s[k] for s in splits) for k in COUNT_KEYS},
        "num_splits": len(splits),
    }


def split_names(metric_files: Sequence[str | os.PathLike]) -> list[str]:
    """Short distinct names for metrics files: their paths below the common folder.

    Args:
        metric_files: Paths.

    Returns:
        One name per path; a trailing ``/metrics.json`` is dropped when the rest is distinct.
    """
    paths = [Path(p) for p in metric_files]
    if len(paths) > 1 and len(set(map(os.path.abspath, paths))) == len(paths):
        common = os.path.commonpath([os.path.abspath(p) for p in paths])
        rel = [Path(os.path.relpath(os.path.abspath(p), common)) for p in paths]
        shorter = [str(r.parent) if r.name == "metrics.json" else str(r) for r in rel]
        if "." not in shorter and len(set(shorter)) == len(shorter):
            return shorter
        return [str(r) for r in rel]
    return [str(p) for p in paths]


def format_split_table(result: dict[str, Any]) -> str:
    """Formats ``average_splits``' result as a text table with a mean row.

    Args:
        result: The dict returned by ``average_splits``.

    Returns:
        Lines ``split | clip@1 | clip@5 | video@1 | video@5 | mean class | videos | failed``,
        accuracies in percent with 2 decimals; no trailing newline.
    """
    rows = [[s["name"]] + [f"{s[k]:.2f}" for k in ACCURACY_KEYS] + [str(s[k]) for k in COUNT_KEYS]
            for s in result["splits"]]
    rows.append(["mean"] + [f"{result['mean'][k]:.2f}" for k in ACCURACY_KEYS]
                + [str(result["total"][k]) for k in COUNT_KEYS])
    header = ["split"] + [title for _, title in ACCURACY_COLUMNS] + ["videos", "failed"]
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        # Names left-aligned, numbers right-aligned so decimals line up.
        return " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([line(header), rule] + [line(r) for r in rows[:-1]] + [rule, line(rows[-1])])
