"""``a2video check LIST_OR_ROOT``: find the videos that would fail or surprise a run, before it starts.

Every video gets the probe the datasets use (:func:`a2video.data.decoding.probe_video`: frame
table, displayed size, first frame) and a decode of its first and last frames, in parallel over
processes. Each video ends in one status:

- ``unreadable``: missing, empty, not a video, or a frame that cannot be decoded;
- ``zero_frames``: a video stream without one decodable frame;
- ``too_short``: fewer frames than a clip spans (its clips will repeat the last frame);
- ``odd``: readable, but worth knowing (``flags``): ``several_streams``, ``variable_rate``,
  ``rotated`` (display rotation), ``high_bit_depth`` (more than 8 bits), ``pyav_only`` (decord,
  or torchcodec with ``--backend torchcodec``, cannot decode it or disagrees with the probe, so
  the slower PyAV does), ``truncated`` (the file ends before its header says; its clips are
  sampled within the frames that exist), ``header_count`` (the header counts other frames than
  are shown, e.g. those an MP4 edit list hides: the ``slowfast`` protocol's clips move with it);
- ``ok``.

A too-short video is flagged too. The CSV report lists every video that is not ``ok`` (all of
them with ``--all``) with its reasons, flags and the probe's facts; a summary goes to standard
output.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from a2video.data.decoding import (
    NoFramesError,
    VideoDecodeError,
    probe_video,
    read_frames,
    video_notes,
)
from a2video.data.sampling import resample_to_fps
from a2video.errors import A2VideoError, one_line

STATUSES = ("unreadable", "zero_frames", "too_short", "odd", "ok")


class CheckError(A2VideoError):
    """The list or folder to check cannot be used."""


@dataclass
class VideoCheck:
    """What the check found for one video (one CSV row)."""

    path: str
    status: str
    reason: str = ""
    flags: str = ""
    frames: int = 0
    fps: float = 0.0
    width: int = 0
    height: int = 0
    rotation: int = 0
    video_streams: int = 0
    variable_frame_rate: bool = False
    bit_depth: int = 0
    codec: str = ""
    seconds: float = 0.0


def check_video(path: str, *, span: int, target_fps: float | None = None, backend: str = "decord") -> VideoCheck:
    """Probes one video, decodes its first and last frames, and classifies it.

    Args:
        path: The video file.
        span: Frames a clip spans (on the ``target_fps`` timeline if one is given).
        target_fps: The training timeline's rate, or ``None`` for the file's own frames.
        backend: The fast backend the run will use (``decord`` or ``torchcodec``); a file it
            cannot decode, or disagrees about, is flagged ``pyav_only``.
    """
    start = time.perf_counter()
    try:
        info = probe_video(path)
    except NoFramesError as error:
        return VideoCheck(path, "zero_frames", error.reason, seconds=time.perf_counter() - start)
    except VideoDecodeError as error:
        return VideoCheck(path, "unreadable", error.reason, seconds=time.perf_counter() - start)
    facts = dict(frames=info.num_frames, fps=round(info.fps, 3), width=info.width, height=info.height,
                 rotation=info.rotation, video_streams=info.num_video_streams,
                 variable_frame_rate=info.variable_frame_rate, bit_depth=info.bit_depth, codec=info.codec)  # fmt: skip
    ends = np.array([0, info.num_frames - 1])
    odd: dict[str, str] = {}  # flag -> reason
    try:
        read_frames(path, ends, backend=backend, fallback=False, num_threads=1, info=info)
    except VideoDecodeError as fast_error:
        try:
            read_frames(path, ends, backend="pyav", num_threads=1, info=info)
        except VideoDecodeError as error:
            return VideoCheck(path, "unreadable", error.reason, seconds=time.perf_counter() - start, **facts)
        odd["pyav_only"] = f"only PyAV decodes it ({fast_error.reason})"
    odd.update(video_notes(info))  # truncated, several_streams: the wording every command uses
    if info.variable_frame_rate:
        odd["variable_rate"] = "variable frame rate"
    if info.rotation:
        odd["rotated"] = f"display rotation {info.rotation} degrees"
    if info.bit_depth > 8:
        odd["high_bit_depth"] = f"{info.bit_depth}-bit ({info.pixel_format})"
    header = info.header
    if header is not None and header.frames > 0 and header.frames != info.num_frames and not info.truncated:
        odd["header_count"] = (f"the header counts {header.frames} frames where {info.num_frames} are shown "
                               "(PySlowFast's reader, protocol slowfast, places its clips on the header's count)")
    timeline = info.num_frames if target_fps is None else resample_to_fps(info.timestamps, target_fps).size
    reasons = list(odd.values())
    if timeline < span:
        rate = "" if target_fps is None else f" at {target_fps:g} fps"
        reasons.insert(0, f"{timeline} frames{rate}, a clip spans {span}: its last frame is repeated")
    status = "too_short" if timeline < span else "odd" if odd else "ok"
    return VideoCheck(path, status, "; ".join(reasons), ";".join(odd), seconds=time.perf_counter() - start, **facts)


def _check_one(job: tuple[str, int, float | None, str]) -> VideoCheck:
    path, span, target_fps, backend = job
    try:
        return check_video(path, span=span, target_fps=target_fps, backend=backend)
    except Exception as error:  # one strange file must not end a scan of thousands
        return VideoCheck(path, "unreadable", f"unexpected {type(error).__name__}: {one_line(error)}")


def check_videos(paths: list[str], *, span: int, target_fps: float | None = None, workers: int = 1,
                 backend: str = "decord") -> list[VideoCheck]:  # fmt: skip
    """:func:`check_video` for every path, in order, over ``workers`` processes."""
    jobs = [(path, span, target_fps, backend) for path in paths]
    if workers <= 1 or len(jobs) <= 1:
        return [_check_one(job) for job in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_check_one, jobs, chunksize=max(1, min(32, len(jobs) // (4 * workers)))))


def summary(rows: list[VideoCheck], seconds: float, workers: int) -> str:
    """A few lines: counts per status, what the odd files are, and the time per video."""
    counts = Counter(row.status for row in rows)
    lines = [f"{len(rows)} videos checked in {seconds:.1f} s ({1000 * seconds / max(len(rows), 1):.1f} ms per video "
             f"with {workers} worker{'s' if workers != 1 else ''})"]  # fmt: skip
    lines += [f"  {status:12s} {counts.get(status, 0):7d}" for status in STATUSES]
    flags = Counter(flag for row in rows for flag in row.flags.split(";") if flag)
    if flags:
        lines.append("  flags: " + ", ".join(f"{flag} {count}" for flag, count in flags.most_common()))
    return "\n".join(lines)
