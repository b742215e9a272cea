"""Lists from generic CSV files: one ``path,label`` row per video, the label as a class *name*.

A first row ``path,label`` is a header and skipped. Paths are relative to the video root and
may contain commas or spaces when quoted the CSV way (``"a, b/clip.mp4",waving``); blanks around
fields are dropped. Each CSV becomes the list named after it (``train.csv`` -> ``train.txt``).
Labels are 0-based in the order of ``classes`` or, by default, of the sorted names.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

from a2video.data.lists import ListFileError, Sample
from a2video.preparation.scan import ListBuildReport, write_found_lists
from a2video.errors import A2VideoError, ConfigError

HEADER = ("path", "label")


def read_label_csv(path: str | os.PathLike) -> list[tuple[str, str, int]]:
    """Reads one CSV into (video path, class name, line number) rows.

    Raises:
        ListFileError: On a row without exactly two fields, an empty field, or a path
            listed twice.
    """
    rows: list[tuple[str, str, int]] = []
    first_seen: dict[str, int] = {}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        for fields in reader:
            number = reader.line_num
            fields = [field.strip() for field in fields]
            if not any(fields):
                continue
            if not rows and tuple(field.lower() for field in fields) == HEADER:
                continue
            if len(fields) != 2 or not fields[0] or not fields[1]:
                raise ListFileError(path, number, f"expected 'path,label', got {','.join(fields)!r}")
            video, name = fields
            if video in first_seen:
                raise ListFileError(path, number, f"{video!r} is listed twice (first on line {first_seen[video]})")
            first_seen[video] = number
            rows.append((video, name, number))
    return rows


def build_csv_lists(
    csv_files: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    video_root: str | os.PathLike | None = None,
    classes: Sequence[str] | None = None,
) -> ListBuildReport:
    """Writes ``classes.txt`` and ``<csv stem>.txt`` for every CSV.

    Args:
        csv_files: The CSV files; their stems name the lists and must differ.
        out_dir: Where to write the lists.
        video_root: When given, a row whose file does not exist under it is left out, counted
            and written to ``missing_<list>``; without it every row is written unchecked.
        classes: Class names in label order; by default the sorted names found in the CSVs.

    Returns:
        What was written and what was missing.

    Raises:
        ListFileError: On a malformed row or a class name not in ``classes``.
        ConfigError: If two CSVs have the same stem.
    """
    stems = [Path(path).stem for path in csv_files]
    if len(set(stems)) != len(stems):
        raise ConfigError(f"CSV files need different names to name their lists, got {[str(p) for p in csv_files]}")
    tables = {Path(path): read_label_csv(path) for path in csv_files}
    if classes is None:
        classes = sorted({name for rows in tables.values() for _, name, _ in rows})
    label_of = {name: label for label, name in enumerate(classes)}
    lists: dict[str, list[Sample]] = {}
    for path, rows in tables.items():
        samples = lists.setdefault(f"{path.stem}.txt", [])
        for video, name, number in rows:
            if name not in label_of:
                raise ListFileError(path, number, f"class {name!r} is not one of the {len(classes)} classes")
            samples.append((video, label_of[name]))
    resolve = None
    if video_root is not None:
        root = Path(video_root)
        if not root.is_dir():
            raise A2VideoError(f"video root {root} does not exist or is not a folder")

        def resolve(listed: str) -> str | None:
            return listed if (root / listed).is_file() else None

    return write_found_lists(out_dir, list(classes), lists, resolve)
