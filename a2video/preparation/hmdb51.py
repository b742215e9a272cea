"""HMDB-51 lists from the official split files (``testTrainMulti_7030_splits/``).

The official folder holds 153 files ``<class>_test_split<k>.txt`` (51 classes x splits 1-3).
Each line is ``<video>.avi <id>``, usually with a trailing blank: id 1 = training, 2 = testing,
0 = not used in that split. Class names are the file-name prefixes (``brush_hair``,
``ride_bike``, ...), sorted for the 0-based labels. The videos sit in ``<class>/`` folders after
unpacking; their names carry odd characters (``!``, ``&``, ``(``, ``)``, ``'``, ``[``, ``]``,
``#``, ``;``, ``+``, ``@``), so names are taken verbatim, never split or globbed. Videos are found
by file stem below the root, which also finds them flattened or converted to ``.mp4``.

Lists are ``train_split{k}.txt`` / ``test_split{k}.txt``, named like UCF-101's, so configs
and ``a2video average-splits`` work the same way for both.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path, PurePosixPath

from a2video.data.lists import ListFileError, Sample, content_lines
from a2video.preparation.scan import ListBuildReport, find_videos, index_by_stem, write_found_lists
from a2video.errors import A2VideoError

SPLIT_FILE = re.compile(r"^(?P<name>.+)_test_split(?P<split>[1-9])\.txt$")
USE = {"1": "train", "2": "test"}  # "0": not used in this split


def find_split_files(splits_dir: str | os.PathLike) -> dict[int, dict[str, Path]]:
    """Maps split number -> class name -> its official file.

    Raises:
        A2VideoError: If the folder has no ``<class>_test_split<k>.txt`` file, or a class
            lacks the file of a split that other classes have.
    """
    splits_dir = Path(splits_dir)
    if not splits_dir.is_dir():
        raise A2VideoError(f"HMDB-51 splits folder {splits_dir} does not exist or is not a folder")
    files: dict[int, dict[str, Path]] = defaultdict(dict)
    for path in sorted(splits_dir.iterdir()):
        matched = SPLIT_FILE.match(path.name)
        if matched and path.is_file():
            files[int(matched["split"])][matched["name"]] = path
    if not files:
        raise A2VideoError(f"no <class>_test_split<k>.txt files in {splits_dir}")
    classes = sorted({name for per_class in files.values() for name in per_class})
    for split, per_class in sorted(files.items()):
        absent = [name for name in classes if name not in per_class]
        if absent:
            raise A2VideoError(
                f"{splits_dir}: split {split} has no file for class(es) {', '.join(absent[:5])}"
                + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
            )
    return dict(files)


def read_split_file(path: str | os.PathLike) -> list[tuple[str, str, int]]:
    """Reads one official file into (video file name, use, line number), use = train/test/unused.

    Raises:
        ListFileError: If a line is not ``<video> <0|1|2>``.
    """
    rows = []
    for number, line in content_lines(path):
        # The id is the last field; a name is kept whole whatever characters it holds.
        fields = line.rsplit(maxsplit=1)
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise ListFileError(path, number, f"expected '<video>.avi <0|1|2>', got {line!r}")
        rows.append((fields[0], USE.get(fields[1], "unused"), number))
    return rows


def build_hmdb51_lists(
    splits_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    video_root: str | os.PathLike | None = None,
) -> ListBuildReport:
    """Writes ``classes.txt``, ``train_split{k}.txt`` and ``test_split{k}.txt``.

    Args:
        splits_dir: The official ``testTrainMulti_7030_splits/`` folder.
        out_dir: Where to write the lists.
        video_root: The folder holding the videos (e.g. ``hmdb51_org/``). When given, listed
            videos are looked up there by file stem, written with their path on disk, and the
            ones not found are counted and written to ``missing_<list>``. Without it the official
            layout ``<class>/<video>.avi`` is written unchecked.

    Returns:
        What was written and what was missing.

    Raises:
        A2VideoError: If the official files are absent or incomplete.
        ListFileError: On a malformed line, or a video listed twice in one split.
    """
    files = find_split_files(splits_dir)
    classes = sorted({name for per_class in files.values() for name in per_class})
    lists: dict[str, list[Sample]] = {}
    for split, per_class in sorted(files.items()):
        lists[f"train_split{split}.txt"], lists[f"test_split{split}.txt"] = [], []
        first_seen: dict[str, str] = {}
        for label, name in enumerate(classes):
            path = per_class[name]
            for video, use, number in read_split_file(path):
                where = f"{path.name}:{number}"
                if first_seen.setdefault(video, where) != where:
                    raise ListFileError(path, number, f"{video!r} is listed twice in split {split} (also {first_seen[video]})")
                if use != "unused":
                    lists[f"{use}_split{split}.txt"].append((f"{name}/{video}", label))

    resolve = None
    if video_root is not None:
        on_disk = index_by_stem(find_videos(video_root))

        def resolve(listed: str) -> str | None:
            return on_disk.get(PurePosixPath(listed).stem)

    return write_found_lists(out_dir, classes, lists, resolve)
