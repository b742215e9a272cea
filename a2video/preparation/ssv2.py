"""Something-Something v2 lists from the official JSON files.

- ``labels.json``: ``{"Pushing something from left to right": "93", ...}``, class name ->
  0-based label as a string (174 classes).
- ``train.json`` / ``validation.json``: lists of ``{"id": "78687", "label": "pushing a book
  from left to right", "template": "Pushing [something] from left to right", "placeholders":
  [...]}``. ``label`` has the placeholders filled in, so it is not a class name; the class is
  the ``template`` without its brackets (``[something]`` -> ``something``, ``[Something]`` ->
  ``Something``, ``[part]`` -> ``part``). A template that still does not match a name exactly
  (case, spacing, commas differ in some copies) is matched on a normalised form.
- ``test.json`` has ids only (no labels) and is not used.
- Videos are ``<id>.webm`` in one folder (``20bn-something-something-v2/``); they are looked up
  by stem, so converted (``.mp4``) or re-foldered copies are found too.

JSON files have no useful line numbers: errors name the file and the 1-based entry number in
the ``file:N:`` position.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from a2video.data.lists import ListFileError, Sample
from a2video.preparation.scan import ListBuildReport, find_videos, index_by_stem, write_found_lists
from a2video.errors import A2VideoError

SPLIT_FILES = (("train.json", "train.txt"), ("validation.json", "val.txt"))


def template_class(template: str) -> str:
    """The class name of a template: brackets removed, their words kept."""
    return " ".join(template.replace("[", "").replace("]", "").split())


def _loose(name: str) -> str:
    return " ".join(re.sub(r"[\[\],]", " ", name).lower().split())


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ListFileError(path, error.lineno, f"not valid JSON: {error.msg}") from None


def read_ssv2_labels(path: str | os.PathLike) -> list[str]:
    """Reads ``labels.json`` into class names ordered by label.

    Raises:
        A2VideoError: If the file does not exist.
        ListFileError: If it is not an object of name -> number, or the numbers are not
            0, 1, ..., N-1 (each once).
    """
    path = Path(path)
    table = _load_json(path)
    if not isinstance(table, dict) or not table:
        raise ListFileError(path, 1, 'expected a JSON object {"class name": "label", ...}')
    names: dict[int, str] = {}
    for number, (name, value) in enumerate(table.items(), start=1):
        if not str(value).strip().isdigit():
            raise ListFileError(path, number, f"label {value!r} of {name!r} is not a number")
        label = int(str(value))
        if label in names:
            raise ListFileError(path, number, f"label {label} is used by {names[label]!r} and {name!r}")
        names[label] = name.strip()
    if sorted(names) != list(range(len(names))):
        raise ListFileError(path, len(names), f"labels must be 0..{len(names) - 1}, got {sorted(names)[:3]}...")
    return [names[label] for label in range(len(names))]


def read_ssv2_split(path: str | os.PathLike, classes: Sequence[str]) -> list[Sample]:
    """Reads ``train.json`` or ``validation.json`` into (``<id>.webm``, label) samples.

    Raises:
        ListFileError: If the file is not a list of objects with ``id`` and ``template``, a
            template matches no class, or an id repeats (entry number in the message).
    """
    path = Path(path)
    entries = _load_json(path)
    if not isinstance(entries, list):
        raise ListFileError(path, 1, 'expected a JSON list [{"id": ..., "template": ...}, ...]')
    exact = {name: label for label, name in enumerate(classes)}
    loose: dict[str, int | None] = {}
    for label, name in enumerate(classes):
        # Two names that only differ in case or commas would be ambiguous: no loose match for them.
        loose[_loose(name)] = None if _loose(name) in loose else label
    samples: list[Sample] = []
    first_seen: dict[str, int] = {}
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not str(entry.get("id", "")).strip():
            raise ListFileError(path, number, f"entry without an id: {str(entry)[:80]}")
        video_id = str(entry["id"]).strip()
        if "template" not in entry:
            raise ListFileError(path, number, f"entry (id {video_id}) has no 'template' to take the class from")
        name = template_class(str(entry["template"]))
        label = exact.get(name, loose.get(_loose(name)))
        if label is None:
            raise ListFileError(path, number, f"template {entry['template']!r} (id {video_id}) matches no class of labels.json")
        if video_id in first_seen:
            raise ListFileError(path, number, f"id {video_id} repeats entry {first_seen[video_id]}")
        first_seen[video_id] = number
        samples.append((f"{video_id}.webm", label))
    return samples


def build_ssv2_lists(
    annotations_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    video_root: str | os.PathLike | None = None,
) -> ListBuildReport:
    """Writes ``classes.txt`` (labels.json order), ``train.txt`` and ``val.txt``.

    Args:
        annotations_dir: Folder with ``labels.json`` and ``train.json`` and/or ``validation.json``.
        out_dir: Where to write the lists.
        video_root: Folder with the ``<id>.webm`` videos. When given, videos are looked up by
            stem and the ones not found are counted and written to ``missing_<list>``;
            without it ``<id>.webm`` is written unchecked.

    Returns:
        What was written and what was missing.

    Raises:
        A2VideoError: If ``labels.json`` or both split files are absent.
        ListFileError: On a malformed file or entry.
    """
    annotations_dir = Path(annotations_dir)
    classes = read_ssv2_labels(annotations_dir / "labels.json")
    lists = {
        list_name: read_ssv2_split(annotations_dir / json_name, classes)
        for json_name, list_name in SPLIT_FILES
        if (annotations_dir / json_name).exists()
    }
    if not lists:
        raise A2VideoError(f"no train.json or validation.json in {annotations_dir}")
    resolve = None
    if video_root is not None:
        on_disk = index_by_stem(find_videos(video_root))

        def resolve(listed: str) -> str | None:
            return on_disk.get(Path(listed).stem)

    return write_found_lists(out_dir, classes, lists, resolve)
