"""Kinetics-400/600/700 lists from the official CSV files.

CSV columns: ``label,youtube_id,time_start,time_end,split[,is_cc]``; multi-word
labels may be quoted. Trimmed clips are named ``{youtube_id}_{start:06d}_{end:06d}.<ext>``
and may sit in class folders (whose names often have ``_`` for spaces) or in one
flat folder, so videos are found by file stem wherever they are below the root.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence

from a2video.data.lists import ListFileError, Sample
from a2video.preparation.scan import ListBuildReport, find_videos, index_by_stem, write_found_lists

REQUIRED_COLUMNS = ("label", "youtube_id", "time_start", "time_end", "split")
SPLIT_NAMES = {"train": "train", "val": "val", "validate": "val", "validation": "val", "test": "test"}


def kinetics400_classes() -> list[str]:
    """The 400 Kinetics-400 class names, sorted (label order), from torchvision's model metadata.

    Works offline: the names ship inside torchvision, no weights are downloaded.
    """
    from torchvision.models.video import R3D_18_Weights

    return sorted(R3D_18_Weights.KINETICS400_V1.meta["categories"])


def clip_stem(youtube_id: str, time_start: int, time_end: int) -> str:
    """The usual file stem of a trimmed clip, e.g. ``abc123_000010_000020``."""
    return f"{youtube_id}_{time_start:06d}_{time_end:06d}"


def read_kinetics_csv(path: str | os.PathLike) -> list[tuple[str, str, str, int]]:
    """Reads an official CSV into (split, label name, clip stem, line number) rows.

    Raises:
        ListFileError: If a column is missing or a row has an empty label, bad times
            or an unknown split.
    """
    rows = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        absent = [name for name in REQUIRED_COLUMNS if name not in (reader.fieldnames or [])]
        if absent:
            raise ListFileError(path, 1, f"missing column(s) {', '.join(absent)}; header is {reader.fieldnames}")
        for row in reader:
            number = reader.line_num
            label = (row["label"] or "").strip()
            if not label:
                raise ListFileError(path, number, "empty label")
            split = SPLIT_NAMES.get((row["split"] or "").strip().lower())
            if split is None:
                raise ListFileError(path, number, f"unknown split {row['split']!r}")
            try:
                # Some releases write times as floats ("10.0").
                start, end = int(float(row["time_start"])), int(float(row["time_end"]))
            except (TypeError, ValueError):
                raise ListFileError(path, number, f"bad times {row['time_start']!r}, {row['time_end']!r}") from None
            rows.append((split, label, clip_stem(row["youtube_id"].strip(), start, end), number))
    return rows


def build_kinetics_lists(
    csv_files: Sequence[str | os.PathLike],
    video_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    classes: Sequence[str] | None = None,
) -> ListBuildReport:
    """Writes ``classes.txt`` and ``train.txt`` / ``val.txt`` / ``test.txt`` (those with rows).

    Args:
        csv_files: Official CSV files (e.g. ``train.csv``, ``validate.csv``); each
            row goes to the list named by its ``split`` column.
        video_root: Folder with the clips, in class folders or flat.
        out_dir: Where to write the lists.
        classes: Class names in label order; by default the sorted set of CSV labels.
            Pass :func:`kinetics400_classes` to pin Kinetics-400's order.

    Returns:
        What was written; clips not found are left out, counted and written to
        ``missing_<list>`` (with the expected stem as path).

    Raises:
        ListFileError: On a malformed row, a label not in ``classes`` or a clip listed
            twice in the same split.
    """
    rows = [(path, *row) for path in csv_files for row in read_kinetics_csv(path)]
    if classes is None:
        classes = sorted({label for _, _, label, _, _ in rows})
    label_of = {name: index for index, name in enumerate(classes)}
    lists: dict[str, list[Sample]] = {}
    first_seen: dict[tuple[str, str], str] = {}
    for path, split, label, stem, number in rows:
        if label not in label_of:
            raise ListFileError(path, number, f"label {label!r} is not one of the {len(classes)} classes")
        where = f"{path}:{number}"
        if first_seen.setdefault((split, stem), where) != where:
            raise ListFileError(path, number, f"clip {stem} listed twice in split {split} (also {first_seen[split, stem]})")
        lists.setdefault(f"{split}.txt", []).append((stem, label_of[label]))

    on_disk = index_by_stem(find_videos(video_root))
    return write_found_lists(out_dir, classes, lists, on_disk.get)
