"""Finding videos on disk and writing list files with a report of what was missing.

The list builders (UCF-101, Kinetics, folder trees) share this: they produce
(listed path, label) pairs, look each one up in an index of the video root, and
write what was found plus a side file of what was not.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from a2video.data.lists import Sample, write_classes, write_list
from a2video.errors import A2VideoError

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv"})


def find_videos(root: str | os.PathLike) -> list[str]:
    """Lists video files below ``root``, as sorted POSIX paths relative to it.

    Hidden files (such as the writer's temporary files) are skipped.

    Raises:
        A2VideoError: If ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise A2VideoError(f"video root {root} does not exist or is not a folder")
    found = []
    for folder, _, files in os.walk(root):
        for name in files:
            if not name.startswith(".") and Path(name).suffix.lower() in VIDEO_EXTENSIONS:
                found.append((Path(folder) / name).relative_to(root).as_posix())
    return sorted(found)


def index_by_stem(relative_paths: Iterable[str], key: Callable[[str], str] = str) -> dict[str, str]:
    """Maps ``key(file stem)`` to the relative path; the first path in sorted order wins.

    Looking videos up by stem finds them whatever the folder layout (class folders
    or flat) and whatever the container the videos were converted to.
    """
    index: dict[str, str] = {}
    for path in sorted(relative_paths):
        index.setdefault(key(Path(path).stem), path)
    return index


@dataclass
class ListBuildReport:
    """What a list builder wrote.

    Attributes:
        out_dir: Folder holding the lists.
        num_classes: Number of classes in ``classes.txt``.
        written: List file name -> number of videos in it.
        missing: List file name -> listed entries not found on disk (left out of the list).
    """

    out_dir: Path
    num_classes: int
    written: dict[str, int] = field(default_factory=dict)
    missing: dict[str, list[Sample]] = field(default_factory=dict)
    missing_note: str = "missing on disk"  # why the missing ones are missing, for the summary

    @property
    def num_missing(self) -> int:
        """Total number of listed videos not found on disk."""
        return sum(len(entries) for entries in self.missing.values())

    def summary(self) -> str:
        """A few human-readable lines for the command line."""
        lines = [f"{self.num_classes} classes -> {self.out_dir / 'classes.txt'}"]
        for name, count in self.written.items():
            missing = len(self.missing.get(name, []))
            note = f" ({missing} {self.missing_note}, listed in {self.out_dir / missing_file_name(name)})" if missing else ""
            lines.append(f"{count:7d} videos -> {self.out_dir / name}{note}")
        return "\n".join(lines)


def missing_file_name(list_name: str) -> str:
    """Side file naming the videos left out of ``list_name`` because they were not found."""
    return f"missing_{list_name}"


def write_found_lists(
    out_dir: str | os.PathLike,
    classes: Sequence[str],
    lists: Mapping[str, Sequence[Sample]],
    resolve: Callable[[str], str | None] | None,
) -> ListBuildReport:
    """Writes ``classes.txt`` and each list, keeping only videos that ``resolve`` finds.

    Args:
        out_dir: Output folder (created if needed).
        classes: Class names in label order.
        lists: File name (e.g. ``train.txt``) -> (listed path, label) entries.
        resolve: Maps a listed path to the path to write, or ``None`` if the video is
            missing. ``None`` writes every entry unchanged (no video root to check).

    Returns:
        Counts of written and missing videos. Missing entries go to
        ``missing_<list name>`` in the list format; a stale side file is removed.
    """
    out_dir = Path(out_dir)
    report = ListBuildReport(out_dir=out_dir, num_classes=len(classes))
    write_classes(out_dir / "classes.txt", classes)
    for name, entries in lists.items():
        found: list[Sample] = []
        missing: list[Sample] = []
        for listed, label in entries:
            actual = listed if resolve is None else resolve(listed)
            if actual is None:
                missing.append((listed, label))
            else:
                found.append((actual, label))
        write_list(out_dir / name, found)
        report.written[name] = len(found)
        side_file = out_dir / missing_file_name(name)
        if missing:
            write_list(side_file, missing)
            report.missing[name] = missing
        else:
            side_file.unlink(missing_ok=True)
    return report
