"""Frame-index samplers: which frames of a video make up a clip. No video I/O here.

A clip is ``num_frames`` frames taken every ``stride`` frames, so it spans
``(num_frames - 1) * stride + 1`` frames of the video. Videos shorter than that either
repeat their last frame (``"clamp"``, the default, as PySlowFast does) or loop (play again
from the start).

Time-based sampling (``target_fps``) first maps the video onto a regular timeline at the target
rate (:func:`resample_to_fps`: for each instant, the frame nearest to it, from the decoded
stream's own timestamps); the samplers then count frames of that timeline, and the result is
mapped back to frame numbers of the file.

Test clip placements (``Δ`` = frames − span, ``K`` clips, clip ``k``'s first frame):

- ``"even"`` (default): ``round(Δ·k/(K−1))``, the first clip starts on the first frame and the
  last one ends on the last frame; one clip is the centre clip ``Δ // 2`` (mmaction2's
  ``SampleFrames`` test mode, which rounds half to even like :func:`numpy.round`).
- ``"segments"``: clip k centred on the middle of the k-th of K equal segments, moved inwards
  where it would stick out (a2video's placement before the references were followed).

The peers' own protocols (their clip starts *and* the frames inside a clip) live in
:mod:`a2video.data.protocols`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

ShortVideoMode = Literal["clamp", "loop"]
ClipPlacement = Literal["even", "segments"]
CLIP_PLACEMENTS: tuple[str, ...] = ("even", "segments")


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
    raise ValueError(f"short must be 'clamp' or 'loop', got {short!r}")


def _check_video_frames(video_frames: int) -> None:
    if video_frames < 1:
        raise ValueError(f"the video has no frames ({video_frames})")


def random_clip_indices(
    video_frames: int,
    num_frames: int,
    stride: int,
    rng: np.random.Generator,
    short: ShortVideoMode = "clamp",
) -> np.ndarray:
    """Frame indices of one training clip starting at a random frame.

    Args:
        video_frames: Number of frames in the video (>= 1).
        num_frames: Frames per clip (T).
        stride: Step between the clip's frames (sampling rate).
        rng: Source of the random start; the same state gives the same clip.
        short: For a video shorter than the clip span: ``"clamp"`` starts at 0 and repeats the
            last frame, ``"loop"`` starts anywhere and wraps around.

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


def clip_starts(video_frames: int, span: int, num_clips: int, placement: ClipPlacement = "even") -> np.ndarray:
    """First frame of each of ``num_clips`` test clips of ``span`` frames (see the module docstring).

    A video shorter than the span gives every clip the start 0.

    Returns:
        int64 array (K,), in ``[0, max(video_frames - span, 0)]``, non-decreasing.
    """
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    if placement not in CLIP_PLACEMENTS:
        raise ValueError(f"placement must be one of {CLIP_PLACEMENTS}, got {placement!r}")
    delta = max(video_frames - span, 0)
    k = np.arange(num_clips)
    if placement == "even":
        # k * (Δ / (K - 1)) in this order, as mmaction2 computes it, so the rounding matches.
        starts = np.round(k * (delta / (num_clips - 1))) if num_clips > 1 else np.array([delta // 2])
    else:
        centres = (k + 0.5) * video_frames / num_clips
        starts = np.clip(np.floor(centres - span / 2 + 0.5), 0, delta)
    return starts.astype(np.int64)


def uniform_clip_indices(
    video_frames: int,
    num_frames: int,
    stride: int,
    num_clips: int,
    short: ShortVideoMode = "clamp",
    placement: ClipPlacement = "even",
) -> np.ndarray:
    """Frame indices of ``num_clips`` test clips spread over the video.

    Args:
        video_frames: Number of frames in the video (>= 1).
        num_frames: Frames per clip (T).
        stride: Step between the clip's frames.
        num_clips: Number of clips (K >= 1).
        short: How to fill clips of a video shorter than the span (see
            :func:`random_clip_indices`); looping clips start at evenly spread frames.
        placement: Where the clips start (:func:`clip_starts`).

    Returns:
        int64 array (K, T), every value in ``[0, video_frames)``.
    """
    _check_video_frames(video_frames)
    span = clip_span(num_frames, stride)
    starts = clip_starts(video_frames, span, num_clips, placement)
    if video_frames < span and short == "loop":
        starts = np.arange(num_clips) * video_frames // num_clips
    return _frames_from_starts(starts.astype(np.int64), video_frames, num_frames, stride, short)


def resample_to_fps(timestamps: np.ndarray, target_fps: float) -> np.ndarray:
    """Frame numbers of the video at a regular rate: for each instant i / target_fps, the nearest frame.

    The instants run from the first frame's time to the last frame's (never past it), so a
    30 fps video resampled at 30 is every frame once, a 25 fps one at 30 repeats every fifth
    frame, and a 60 fps one at 30 takes every other frame. Ties go to the earlier frame.

    Args:
        timestamps: float (F,) presentation times in seconds from the first frame, increasing
            (:attr:`a2video.data.decoding.VideoInfo.timestamps`); variable rates are fine.
        target_fps: Rate of the regular timeline (> 0).

    Returns:
        int64 array (N,): frame number shown at each instant; index it with clip indices
        sampled from ``N`` frames.
    """
    if target_fps <= 0:
        raise ValueError(f"target_fps must be > 0, got {target_fps}")
    times = np.asarray(timestamps, dtype=np.float64)
    _check_video_frames(times.size)
    count = int(np.floor((times[-1] - times[0]) * target_fps + 1e-6)) + 1
    instants = times[0] + np.arange(count) / target_fps  # (N,)
    after = np.clip(np.searchsorted(times, instants, side="left"), 1, max(times.size - 1, 1))
    before = after - 1
    if times.size == 1:
        return np.zeros(count, dtype=np.int64)
    nearer_after = (times[after] - instants) < (instants - times[before])
    return np.where(nearer_after, after, before).astype(np.int64)
