"""Shared fixtures: a coded video and a tiny synthetic set."""

from __future__ import annotations

from pathlib import Path

import pytest

from a2video.data.encoding import write_video
from a2video.data.synthetic import make_synthetic_set
from video_codes import coded_frames


@pytest.fixture(scope="session")
def coded_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 100-frame mp4 with a key frame every 16 frames (so decoders must seek)."""
    path = tmp_path_factory.mktemp("coded") / "coded.mp4"
    write_video(path, coded_frames(100), fps=25, gop_size=16)
    return path


@pytest.fixture(scope="session")
def tiny_source_set(tmp_path_factory: pytest.TempPathFactory):
    """A small synthetic source set (10 classes x 5 videos, 16 frames of 32x32)."""
    return make_synthetic_set(
        tmp_path_factory.mktemp("synth"), "source", videos_per_class=5, num_frames=16, size=32, seed=3, workers=1
    )
