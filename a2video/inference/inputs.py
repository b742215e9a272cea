"""Which videos a command runs on: files, folders and list files, in the order given."""

from __future__ import annotations

import os
from pathlib import Path

from a2video.data.lists import content_lines
from a2video.errors import A2VideoError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".ogv")
LIST_SUFFIXES = (".txt", ".lst", ".list")


def collect_videos(inputs: list[str], video_root: str | None = None) -> list[str]:
    """Expand ``inputs`` into video paths.

    Args:
        inputs: video files (any suffix: an unreadable one becomes a failed row later), folders
            (their video files, recursively, sorted) and list files (``.txt``: one video per line,
            ``path`` or ``path label``; relative paths are under ``video_root``, else the list's folder).
        video_root: folder that list files' relative paths are relative to.

    Raises:
        A2VideoError: an input does not exist, or nothing is left to run on.
    """
    videos: list[str] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found = sorted(str(p) for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            videos += found
        elif path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
            videos += _read_video_list(path, video_root)
        elif path.is_file():
            videos.append(str(path))
        else:
            raise A2VideoError(f"input not found: {item}")
    if not videos:
        raise A2VideoError(f"no video files in {', '.join(inputs)} (suffixes: {' '.join(VIDEO_SUFFIXES)})")
    return list(dict.fromkeys(videos))  # a video named twice runs once


def _read_video_list(path: Path, video_root: str | None) -> list[str]:
    root = Path(video_root) if video_root else path.parent
    videos = []
    for _, line in content_lines(path):
        fields = line.rsplit(maxsplit=1)
        name = fields[0] if len(fields) == 2 and fields[1].lstrip("-").isdigit() else line
        videos.append(name if os.path.isabs(name) else str(root / name))
    return videos
