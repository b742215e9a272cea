"""Lists for any folder-per-class video tree (``root/<class>/**/<video>``)."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import PurePosixPath

import numpy as np

from a2video.data.lists import Sample
from a2video.data.scan import ListBuildReport, find_videos, write_found_lists
from a2video.errors import A2VideoError, ConfigError


def split_per_class(
    samples: Sequence[Sample], fractions: Sequence[float], seed: int = 0
) -> list[list[Sample]]:
    """Splits samples into parts, class by class, so every part keeps the class balance.

    Args:
        samples: (path, label) pairs.
        fractions: Share of each class for every part after the first; the first part
            gets the rest. E.g. ``(0.1, 0.1)`` gives train/val/test at 80/10/10.
        seed: Shuffling seed; the same seed and samples give the same split.

    Returns:
        ``len(fractions) + 1`` lists, each sorted by path.

    Raises:
        ConfigError: If a fraction is negative or they add up to more than 1.
    """
    if any(share < 0 for share in fractions) or sum(fractions) > 1:
        raise ConfigError(f"fractions must be >= 0 and sum to at most 1, got {list(fractions)}")
    by_class: dict[int, list[Sample]] = defaultdict(list)
    for sample in sorted(samples):
        by_class[sample[1]].append(sample)
    parts: list[list[Sample]] = [[] for _ in range(len(fractions) + 1)]
    rng = np.random.default_rng(seed)
    for label in sorted(by_class):
        members = by_class[label]
        order = rng.permutation(len(members))
        start = 0
        for part, share in enumerate(fractions, start=1):
            count = int(round(share * len(members)))
            parts[part].extend(members[i] for i in order[start : start + count])
            start += count
        parts[0].extend(members[i] for i in order[start:])
    return [sorted(part) for part in parts]


def build_folder_lists(
    video_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    val_fraction: float = 0.0,
    test_fraction: float = 0.0,
    seed: int = 0,
) -> ListBuildReport:
    """Writes ``classes.txt`` (sorted top-level folder names) and split lists.

    Args:
        video_root: Folder whose sub-folders are the classes; videos may be nested.
        out_dir: Where to write the lists.
        val_fraction: Share of each class for ``val.txt`` (0 = no val list).
        test_fraction: Share of each class for ``test.txt`` (0 = no test list).
        seed: Seed of the random split.

    Returns:
        What was written.

    Raises:
        A2VideoError: If the root is not a folder or holds no video inside a class folder.
    """
    videos = [path for path in find_videos(video_root) if len(PurePosixPath(path).parts) > 1]
    if not videos:
        raise A2VideoError(f"no videos inside class folders of {video_root}")
    classes = sorted({PurePosixPath(path).parts[0] for path in videos})
    label_of = {name: label for label, name in enumerate(classes)}
    samples = [(path, label_of[PurePosixPath(path).parts[0]]) for path in videos]
    train, val, test = split_per_class(samples, (val_fraction, test_fraction), seed)
    lists = {"train.txt": train}
    if val_fraction > 0:
        lists["val.txt"] = val
    if test_fraction > 0:
        lists["test.txt"] = test
    return write_found_lists(out_dir, classes, lists, resolve=None)
