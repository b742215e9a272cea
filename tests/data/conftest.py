"""Fixtures of the data tests: a video whose frames carry their numbers (synthetic sets: tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from a2video.data.encoding import write_video
from video_codes import coded_frames


@pytest.fixture(scope="session")
def coded_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 100-frame mp4 with a key frame every 16 frames (so decoders must seek)."""
    path = tmp_path_factory.mktemp("coded") / "coded.mp4"
    write_video(path, coded_frames(100), fps=25, gop_size=16)
    return path
