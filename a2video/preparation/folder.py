"""Lists for any folder-per-class video tree (``root/<class>/**/<video>``).

Clips cut from the same source video (UCF-101's ``v_<Class>_g08_c01`` .. ``_c05``) look alike;
with ``group_regex`` every such group lands in one part of the split, so a test clip never has
a sibling in the training list.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import PurePosixPath

import numpy as np

from a2video.data.lists import Sample
from a2video.preparation.scan import ListBuildReport, find_videos, write_found_lists
from a2video.errors import A2VideoError, ConfigError


def _check_fractions(fractions: Sequence[float]) -> None:
    if any(share < 0 for share in fractions) or sum(fractions) > 1:
        raise ConfigError(f"fractions must be >= 0 and sum to at most 1, got {list(fractions)}")


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
    _check_fractions(fractions)
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


def split_groups_per_class(
    samples: Sequence[Sample], group_of: Callable[[str], str], fractions: Sequence[float], seed: int = 0
) -> list[list[Sample]]:
    """Like :func:`split_per_class`, but whole groups of videos go to one part.

    Within each class the groups are shuffled; each later part takes groups in that order for as
    long as taking one brings its video count closer to ``share * videos in the class``; the first
    part gets the remaining groups. Shares are therefore met as closely as group sizes allow.

    Args:
        samples: (path, label) pairs.
        group_of: Maps a path to its group name; groups are formed within each class.
        fractions: Share of each class for every part after the first (see :func:`split_per_class`).
        seed: Shuffling seed.

    Returns:
        ``len(fractions) + 1`` lists, each sorted by path.

    Raises:
        ConfigError: If a fraction is negative or they add up to more than 1.
    """
    _check_fractions(fractions)
    groups: dict[int, dict[str, list[Sample]]] = defaultdict(lambda: defaultdict(list))
    for sample in sorted(samples):
        groups[sample[1]][group_of(sample[0])].append(sample)
    parts: list[list[Sample]] = [[] for _ in range(len(fractions) + 1)]
    rng = np.random.default_rng(seed)
    for label in sorted(groups):
        names = sorted(groups[label])
        queue = [names[i] for i in rng.permutation(len(names))]
        total = sum(len(members) for members in groups[label].values())
        for part, share in enumerate(fractions, start=1):
            target, taken = share * total, 0
            while queue and abs(taken + len(groups[label][queue[0]]) - target) < abs(taken - target):
                members = groups[label][queue.pop(0)]
                parts[part].extend(members)
                taken += len(members)
        for name in queue:
            parts[0].extend(groups[label][name])
    return [sorted(part) for part in parts]


def regex_group(pattern: str) -> Callable[[str], str]:
    """The group of a path: the regex's first capture group, or its whole match without one.

    Raises:
        ConfigError: If the pattern does not compile; the returned function raises A2VideoError for a
            path the pattern does not match.
    """
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise ConfigError(f"--group-regex {pattern!r} is not a valid regular expression: {error}") from None

    def group_of(path: str) -> str:
        found = compiled.search(path)
        if found is None:
            raise A2VideoError(f"{path} does not match --group-regex {pattern!r}; every video needs a group")
        return found.group(1) if compiled.groups else found.group(0)

    return group_of


def build_folder_lists(
    video_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    val_fraction: float = 0.0,
    test_fraction: float = 0.0,
    seed: int = 0,
    group_regex: str | None = None,
) -> ListBuildReport:
    """Writes ``classes.txt`` (sorted top-level folder names) and split lists.

    Args:
        video_root: Folder whose sub-folders are the classes; videos may be nested.
        out_dir: Where to write the lists.
        val_fraction: Share of each class for ``val.txt`` (0 = no val list).
        test_fraction: Share of each class for ``test.txt`` (0 = no test list).
        seed: Seed of the random split.
        group_regex: Keeps videos whose paths (relative to the root) give the same
            match in one part, e.g. ``_g(\\d+)_`` for UCF-style names; the first capture
            group is the key if there is one. Groups are formed within each class.

    Returns:
        What was written.

    Raises:
        A2VideoError: If the root is not a folder, holds no video inside a class folder, or a video
            does not match ``group_regex``.
    """
    videos = [path for path in find_videos(video_root) if len(PurePosixPath(path).parts) > 1]
    if not videos:
        raise A2VideoError(f"no videos inside class folders of {video_root}")
    classes = sorted({PurePosixPath(path).parts[0] for path in videos})
    label_of = {name: label for label, name in enumerate(classes)}
    samples = [(path, label_of[PurePosixPath(path).parts[0]]) for path in videos]
    fractions = (val_fraction, test_fraction)
    if group_regex is None:
        train, val, test = split_per_class(samples, fractions, seed)
    else:
        train, val, test = split_groups_per_class(samples, regex_group(group_regex), fractions, seed)
    lists = {"train.txt": train}
    if val_fraction > 0:
        lists["val.txt"] = val
    if test_fraction > 0:
        lists["test.txt"] = test
    return write_found_lists(out_dir, classes, lists, resolve=None)
