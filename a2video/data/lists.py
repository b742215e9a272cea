"""List files: ``relative/path label`` per line (0-based label), and ``classes.txt``.

A list file names videos relative to a video root. The label is the last
whitespace-separated field, so paths may contain spaces (Kinetics class folders
often do). ``classes.txt`` holds one class name per line; line k is label k.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from a2video.errors import A2VideoError
from a2video.files import atomic_write

Sample = tuple[str, int]
"""One list entry: (path relative to the video root, 0-based label)."""


class ListFileError(A2VideoError, ValueError):
    """A list or classes file is malformed; the message starts with ``file:line:``."""

    def __init__(self, path: str | os.PathLike, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = str(path)
        self.line = line


def content_lines(path: str | os.PathLike) -> Iterable[tuple[int, str]]:
    """Yields (1-based line number, stripped text) for every non-blank line.

    ``splitlines`` also removes the ``\\r`` of CRLF files.
    """
    text = Path(path).read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line:
            yield number, line


def read_classes(path: str | os.PathLike) -> list[str]:
    """Reads ``classes.txt``: one name per line, in label order.

    Args:
        path: The classes file.

    Returns:
        The class names; index = label.

    Raises:
        FileNotFoundError: If the file does not exist.
        ListFileError: On a duplicate name or an empty file.
    """
    names: list[str] = []
    first_seen: dict[str, int] = {}
    for number, name in content_lines(path):
        if name in first_seen:
            raise ListFileError(path, number, f"duplicate class {name!r} (first on line {first_seen[name]})")
        first_seen[name] = number
        names.append(name)
    if not names:
        raise ListFileError(path, 0, "no class names")
    return names


def write_classes(path: str | os.PathLike, names: Sequence[str]) -> None:
    """Writes ``classes.txt`` (one name per line), creating parent folders.

    Raises:
        ValueError: If a name is empty, repeated, has surrounding blanks or a line break.
    """
    if len(set(names)) != len(names):
        raise ValueError("class names must be unique")
    for name in names:
        if not name or name != name.strip() or "\n" in name or "\r" in name:
            raise ValueError(f"class name {name!r} cannot be written one per line")
    _write_lines(path, names)


def parse_list_line(line: str) -> Sample:
    """Splits one ``path label`` line.

    Raises:
        ValueError: If there is no label field or it is not a non-negative integer.
    """
    fields = line.rsplit(maxsplit=1)
    if len(fields) != 2:
        raise ValueError(f"expected 'path label', got {line!r}")
    path, label_text = fields
    try:
        label = int(label_text)
    except ValueError:
        raise ValueError(f"label {label_text!r} is not an integer") from None
    if label < 0:
        raise ValueError(f"label {label} is negative")
    return path, label


def read_list(path: str | os.PathLike, num_classes: int | None = None) -> list[Sample]:
    """Reads a list file, checking every line.

    Args:
        path: The list file (CRLF line ends and blank lines are accepted).
        num_classes: If given, labels must be below it.

    Returns:
        The samples in file order.

    Raises:
        FileNotFoundError: If the file does not exist.
        ListFileError: On a malformed line, a label out of range or a repeated path,
            naming the file and line.
    """
    samples: list[Sample] = []
    first_seen: dict[str, int] = {}
    for number, line in content_lines(path):
        try:
            video, label = parse_list_line(line)
        except ValueError as error:
            raise ListFileError(path, number, str(error)) from None
        if num_classes is not None and label >= num_classes:
            raise ListFileError(path, number, f"label {label} out of range for {num_classes} classes")
        if video in first_seen:
            raise ListFileError(path, number, f"duplicate video {video!r} (first on line {first_seen[video]})")
        first_seen[video] = number
        samples.append((video, label))
    return samples


def write_list(path: str | os.PathLike, samples: Iterable[Sample]) -> None:
    """Writes a list file (``path label`` per line), creating parent folders.

    Raises:
        ValueError: If a path could not be read back (line break, surrounding blanks)
            or a label is negative.
    """
    lines = []
    for video, label in samples:
        if not video or video != video.strip() or "\n" in video or "\r" in video:
            raise ValueError(f"path {video!r} cannot be written in a list file")
        if label < 0:
            raise ValueError(f"negative label {label} for {video!r}")
        lines.append(f"{video} {label}")
    _write_lines(path, lines)


def _write_lines(path: str | os.PathLike, lines: Iterable[str]) -> None:
    data = "".join(f"{line}\n" for line in lines).encode("utf-8")
    atomic_write(path, lambda f: f.write(data))
