"""UCF-101 lists from the official ``ucfTrainTestlist/`` folder.

Official files: ``classInd.txt`` (``1 ApplyEyeMakeup``, 1-based),
``trainlist0{1,2,3}.txt`` (``Class/v_Class_g08_c01.avi 1``, 1-based label) and
``testlist0{1,2,3}.txt`` (``Class/v_Class_g01_c01.avi``, label from the folder).
They may have CRLF line ends. The folder ``HandstandPushups`` holds files named
``v_HandStandPushups_*``; some copies of the dataset also spell the folder that way.
Videos are therefore matched by file stem, case-insensitively, which also finds
them after a conversion to another container (``.avi`` -> ``.mp4``) or flattening.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from a2video.data.lists import ListFileError, Sample, content_lines
from a2video.preparation.scan import ListBuildReport, find_videos, index_by_stem, write_found_lists
from a2video.errors import A2VideoError

SPLITS = (1, 2, 3)


def read_class_index(path: str | os.PathLike) -> list[str]:
    """Reads ``classInd.txt`` into class names ordered by 0-based label.

    Raises:
        ListFileError: If a line is not ``<number> <name>`` or the numbers are not 1, 2, 3, ...
    """
    names: list[str] = []
    for number, line in content_lines(path):
        fields = line.split()
        if len(fields) != 2 or not fields[0].isdigit():
            raise ListFileError(path, number, f"expected '<index> <ClassName>', got {line!r}")
        if int(fields[0]) != len(names) + 1:
            raise ListFileError(path, number, f"expected class index {len(names) + 1}, got {fields[0]}")
        names.append(fields[1])
    if not names:
        raise ListFileError(path, 0, "no classes")
    return names


def read_split_file(path: str | os.PathLike, classes: list[str]) -> list[Sample]:
    """Reads a ``trainlist0k.txt`` or ``testlist0k.txt`` file into 0-based samples.

    The label is the folder name looked up case-insensitively in ``classes``; when a
    1-based label is also given (train lists) the two must agree.

    Raises:
        ListFileError: On an unknown class folder, a bad label or a disagreement.
    """
    by_lower_name = {name.lower(): label for label, name in enumerate(classes)}
    samples: list[Sample] = []
    for number, line in content_lines(path):
        fields = line.split()
        if len(fields) not in (1, 2):
            raise ListFileError(path, number, f"expected 'Class/video.avi [label]', got {line!r}")
        video = fields[0].replace("\\", "/")
        folder = PurePosixPath(video).parent.name
        label = by_lower_name.get(folder.lower())
        if label is None:
            raise ListFileError(path, number, f"folder {folder!r} is not a class in classInd.txt")
        if len(fields) == 2:
            if not fields[1].isdigit() or not 1 <= int(fields[1]) <= len(classes):
                raise ListFileError(path, number, f"label {fields[1]!r} is not in 1..{len(classes)}")
            if int(fields[1]) - 1 != label:
                raise ListFileError(
                    path, number, f"label {fields[1]} is {classes[int(fields[1]) - 1]!r} but the folder is {folder!r}"
                )
        samples.append((video, label))
    return samples


def build_ucf101_lists(
    splits_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    video_root: str | os.PathLike | None = None,
) -> ListBuildReport:
    """Writes ``classes.txt``, ``train_split{k}.txt`` and ``test_split{k}.txt``.

    Args:
        splits_dir: The official ``ucfTrainTestlist/`` folder.
        out_dir: Where to write the lists.
        video_root: The folder holding the videos (e.g. ``UCF-101/``). When given,
            listed videos are looked up there, written with their path on disk, and
            the ones not found are counted and written to ``missing_<list>``
            instead. Without it the official paths are written unchecked.

    Returns:
        What was written and what was missing.

    Raises:
        FileNotFoundError: If ``classInd.txt`` or all split files are absent.
        ListFileError: On a malformed official file.
    """
    splits_dir = Path(splits_dir)
    classes = read_class_index(splits_dir / "classInd.txt")
    lists: dict[str, list[Sample]] = {}
    for split in SPLITS:
        for kind in ("train", "test"):
            official = splits_dir / f"{kind}list0{split}.txt"
            if official.exists():
                lists[f"{kind}_split{split}.txt"] = read_split_file(official, classes)
    if not lists:
        raise A2VideoError(f"no trainlist0k.txt / testlist0k.txt files in {splits_dir}")

    resolve = None
    if video_root is not None:
        on_disk = index_by_stem(find_videos(video_root), key=str.lower)

        def resolve(listed: str) -> str | None:
            return on_disk.get(PurePosixPath(listed).stem.lower())

    return write_found_lists(out_dir, classes, lists, resolve)
