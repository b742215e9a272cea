"""Decoding returns exactly the requested frames, with every backend (torchcodec where it is installed)."""

import numpy as np
import pytest

import a2video.data.decoding as decoding
from a2video.data.decoding import VideoDecodeError, probe_video, read_frames, torchcodec_available
from a2video.data.encoding import write_video
from video_codes import coded_frames, make_bad_videos, read_codes

needs_torchcodec = pytest.mark.needs_torchcodec  # tests/conftest.py: skipped without it, failed in CI
BACKENDS = ["decord", "pyav", pytest.param("torchcodec", marks=needs_torchcodec)]


def test_written_frames_survive_encoding(tmp_path):
    # The code must be readable after H.264, or the decoding tests below prove nothing.
    frames = coded_frames(12)
    assert read_codes(frames).tolist() == list(range(12))
    write_video(tmp_path / "v.mp4", frames, fps=10)
    decoded = read_frames(tmp_path / "v.mp4", np.arange(12), backend="pyav")
    assert np.abs(decoded.astype(int) - frames).mean() < 3


def test_probe_reads_the_header(coded_video):
    info = probe_video(coded_video)
    assert (info.num_frames, info.height, info.width, info.fps) == (100, 48, 128, 25.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_requested_frames_come_back_in_order_with_repeats(coded_video, backend):
    indices = np.array([[50, 3, 99, 99], [0, 17, 64, 65]])  # across key frames, backwards, repeated
    frames = read_frames(coded_video, indices, backend=backend)
    assert frames.shape == (2, 4, 48, 128, 3) and frames.dtype == np.uint8
    assert np.array_equal(read_codes(frames), indices)


@pytest.mark.parametrize("backend", BACKENDS)
def test_resizing_inside_the_decoder(coded_video, backend):
    indices = np.arange(5, 85, 10)
    frames = read_frames(coded_video, indices, size=(30, 80), backend=backend)
    assert frames.shape == (8, 30, 80, 3)
    assert np.array_equal(read_codes(frames), indices)


@pytest.mark.parametrize("backend", BACKENDS)
def test_indices_past_the_end_raise_instead_of_repeating_the_last_frame(coded_video, backend):
    assert read_codes(read_frames(coded_video, np.array([98, 99, 7]), backend=backend)).tolist() == [98, 99, 7]
    with pytest.raises(VideoDecodeError, match="frame 120 does not exist: the video has 100 frames"):
        read_frames(coded_video, np.array([98, 120, 7]), backend=backend)


def test_pyav_takes_over_when_decord_fails(coded_video, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("simulated decord failure")

    monkeypatch.setattr(decoding, "_decode_decord", broken)
    frames = read_frames(coded_video, np.array([4, 40]), backend="decord")
    assert read_codes(frames).tolist() == [4, 40]
    with pytest.raises(VideoDecodeError, match="decord: RuntimeError: simulated decord failure"):
        read_frames(coded_video, np.array([4]), backend="decord", fallback=False)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [("empty", "empty file"), ("truncated", "cannot open: InvalidDataError"), ("text", "cannot open")],
)
def test_bad_files_raise_a_one_line_reason(tmp_path, kind, reason):
    path = make_bad_videos(tmp_path)[kind]
    with pytest.raises(VideoDecodeError) as caught:
        probe_video(path)
    assert caught.value.path == str(path)
    assert reason in caught.value.reason and "\n" not in caught.value.reason
    for backend in ["decord", "pyav"] + (["torchcodec"] if torchcodec_available() else []):
        with pytest.raises(VideoDecodeError):
            read_frames(path, np.array([0]), backend=backend)


def test_missing_file_and_bad_arguments(tmp_path, coded_video):
    with pytest.raises(VideoDecodeError, match="file not found"):
        probe_video(tmp_path / "nope.mp4")
    with pytest.raises(ValueError, match="backend"):
        read_frames(coded_video, np.array([0]), backend="opencv")
    with pytest.raises(ValueError, match="non-negative"):
        read_frames(coded_video, np.array([-1]))
