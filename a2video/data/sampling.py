"""Frame-index samplers: which frames of a video make up a clip. No video I/O here.

A clip is ``num_frames`` frames taken every ``stride`` frames, so it spans
``(num_frames - 1) * stride + 1`` frames of the video. Videos shorter than that
either loop (play again from the start) or clamp (repeat the last frame).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

ShortVideoMode = Literal["loop", "clamp"]


def clip_span(num_frames: int, stride: int) -> int:
    """Number of video frames from a clip's first to its last frame, both included."""
    if num_frames < 1 or stride < 1:
        raise ValueError(f"num_frames and stride must be >= 1, got {num_frames}, {stride}")
    return (num_frames - 1) * stride + 1


def _frames_from_starts(
    starts: np.ndarray, video_frames: int, num_frames: int, stride: int, short: ShortVideoMode
) -> np.ndarray:
    """Turns clip start frames (K,) into frame indices (K, num_frames) inside the video."""
    indices = starts[:, None] + stride * np.arange(num_frames)[None, :]  # (K, T)
    if short == "loop":
        return indices % video_frames
    if short == "clamp":
        return np.minimum(indices, video_frames - 1)
    raise ValueError(f"short must be 'loop' or 'clamp', got {short!r}")


def _check_video_frames(video_frames: int) -> None:
    if video_frames < 1:
        raise ValueError(f"the video has no frames ({video_frames})")


def random_clip_indices(
    video_frames: int,
    num_frames: int,
    stride: int,
    rng: np.random.Generator,
    short: ShortVideoMode = "loop",
) -> np.ndarray:
    """Frame indices of one training clip starting at a random frame.

    Args:
        video_frames: Number of frames in the video (>= 1).
        num_frames: Frames per clip (T).
        stride: Step between the clip's frames (sampling rate).
        rng: Source of the random start; the same state gives the same clip.
        short: For a video shorter than the clip span: ``"loop"`` starts anywhere and
            wraps around, ``"clamp"`` starts at 0 and repeats the last frame.

    Returns:
        int64 array (T,), every value in ``[0, video_frames)``.
    """
    _check_video_frames(video_frames)
    latest_start = video_frames - clip_span(num_frames, stride)
    if latest_start >= 0:
        start = rng.integers(0, latest_start + 1)
    elif short == "loop":
        start = rng.integers(0, video_frames)
    else:
        start = 0
    starts = np.array([start], dtype=np.int64)
    return _frames_from_starts(starts, video_frames, num_frames, stride, short)[0]


def uniform_clip_indices(
    video_frames: int,
    num_frames: int,
    stride: int,
    num_clips: int,
    short: ShortVideoMode = "loop",
) -> np.ndarray:
    """Frame indices of ``num_clips`` test clips spread uniformly over the video.

    The video is cut into ``num_clips`` equal segments and clip k is centred on the
    middle of segment k (moved inwards where it would stick out), so one clip is
    the centre clip and ten clips cover the whole video.

    Args:
        video_frames: Number of frames in the video (>= 1).
        num_frames: Frames per clip (T).
        stride: Step between the clip's frames.
        num_clips: Number of clips (K >= 1).
        short: How to fill clips of a video shorter than the span (see
            :func:`random_clip_indices`); looping clips start at evenly spread frames.

    Returns:
        int64 array (K, T), every value in ``[0, video_frames)``.
    """
    _check_video_frames(video_frames)
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    span = clip_span(num_frames, stride)
    latest_start = video_frames - span
    clip_number = np.arange(num_clips)
    if latest_start >= 0:
        centres = (clip_number + 0.5) * video_frames / num_clips
        starts = np.clip(np.floor(centres - span / 2 + 0.5), 0, latest_start)
    elif short == "loop":
        starts = clip_number * video_frames // num_clips
    else:
        starts = np.zeros(num_clips)
    return _frames_from_starts(starts.astype(np.int64), video_frames, num_frames, stride, short)
