"""One video of ``a2video prepare``: re-encode, check, rename; and the worker-process side.

Everything here runs inside a worker process (or the main one with ``--workers 1``) and returns
plain data: :func:`prepare_video` never raises for a bad input or a failed write, it says so in
its :class:`PrepareResult`, and the orchestration in :mod:`a2video.preparation.prepare` decides.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path, PurePosixPath
from typing import Literal

import av
import numpy as np

from a2video.data.decoding import VideoDecodeError, _packets, probe_video, video_notes
from a2video.data.encoding import add_h264_stream
from a2video.errors import one_line
from a2video.files import temporary_path


Status = Literal["prepared", "unreadable", "too_short", "failed", "collision", "write_error"]


@dataclass(frozen=True)
class PrepareSettings:
    """How videos are re-encoded; recorded in ``prepare.json``.

    Attributes:
        short_side: Short side after scaling down (never up; sizes rounded to even).
        gop: Frames between key frames, so a seek decodes at most this many frames.
        crf: x264 constant rate factor.
        preset: x264 preset.
    """

    short_side: int = 320
    gop: int = 16
    crf: int = 23
    preset: str = "veryfast"


@dataclass
class PrepareResult:
    """What happened to one input video (``path`` relative to the source root)."""

    path: str
    status: Status
    reason: str = ""
    frames: int = 0
    errno: int | None = None


class _InputError(Exception):
    """The source video cannot be read; ``args[0]`` is the one-line reason."""


def output_name(relative: str) -> str:
    """The prepared video's path for an input path: same folders and stem, ``.mp4``."""
    return PurePosixPath(relative).with_suffix(".mp4").as_posix()


def output_names(relatives: Iterable[str]) -> dict[str, str | None]:
    """The prepared path of each input, never two inputs on one name.

    ``a/b.avi`` becomes ``a/b.mp4``; when several inputs share that name (``vfr.mp4`` and
    ``vfr.mkv``), the ones that are not ``.mp4`` keep their suffix (``vfr.mkv.mp4``). An input
    whose name is still taken (``vfr.mkv.mp4`` itself among the inputs) maps to None.
    """
    relatives = sorted(set(relatives))
    plain: dict[str, list[str]] = {}
    for relative in relatives:
        plain.setdefault(output_name(relative), []).append(relative)
    names: dict[str, str | None] = {}
    for target, group in plain.items():
        for relative in group:
            keep = len(group) == 1 or PurePosixPath(relative).suffix.lower() == ".mp4"
            names[relative] = target if keep else f"{relative}.mp4"
    taken: dict[str, str] = {}
    for relative in relatives:
        if taken.setdefault(names[relative], relative) != relative:
            names[relative] = None
    return names


def output_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) with the short side scaled down to ``short_side``, both even (yuv420p)."""
    scale = min(1.0, short_side / min(height, width))
    return max(2, int(round(height * scale / 2)) * 2), max(2, int(round(width * scale / 2)) * 2)


def _decoded_frames(container: av.container.InputContainer, stream) -> Iterator[av.VideoFrame]:
    """The frames of ``stream`` in presentation order; read errors become ``_InputError``."""
    stream.thread_count = 1  # one process per core already
    stream.thread_type = "SLICE"
    # The frames the probe counts (a2video.data.decoding): an incomplete last packet (truncated
    # file) is not decoded, and a container error ends the frames, as in every other command.
    complete = (packet for packet in _packets(container, stream) if not packet.is_corrupt)
    for packet in itertools.chain(complete, [None]):
        try:
            frames = stream.decode(packet)
        except Exception as error:  # PyAV raises many types for damaged input
            raise _InputError(f"decoding failed: {one_line(error, with_type=True)}") from error
        yield from frames


def transcode(source: Path, target: Path, settings: PrepareSettings, notes: list[str] | None = None) -> int:
    """Re-encodes the first video stream of ``source`` into the mp4 ``target``.

    Returns:
        The number of frames decoded from the source, all of which were encoded. ``notes`` (if
        given) receives what :func:`a2video.data.decoding.video_notes` says of the source.

    Raises:
        _InputError: If the source cannot be opened or decoded, or has no frame or frame rate.
        Exception: Whatever writing ``target`` raised (an ``OSError`` for a full disk).
    """
    try:
        info = probe_video(source)
    except VideoDecodeError as error:
        raise _InputError(error.reason) from error
    regular = info.irregular_times is None
    if notes is not None:
        notes += video_notes(info).values()
    try:
        source_container = av.open(str(source))
    except Exception as error:
        raise _InputError(f"cannot open: {one_line(error, with_type=True)}") from error
    with source_container:
        if not source_container.streams.video:
            raise _InputError("no video stream")
        video = source_container.streams[info.stream_index]  # the stream the decoders use
        rate = video.average_rate or video.guessed_rate or video.base_rate
        if not rate:
            raise _InputError("no frame rate in the header")
        frames = _decoded_frames(source_container, video)
        first = next(frames, None)
        if first is None:
            raise _InputError("no frame could be decoded")
        # The pictures a player shows: the display rotation is applied here and the output has
        # none, so every decoder of the prepared file returns what the decoders of the source do.
        turns = round((first.rotation or 0) / 90) % 4
        shown = (first.width, first.height) if turns % 2 else (first.height, first.width)
        height, width = output_size(*shown, settings.short_side)
        # Each frame keeps its presentation time (variable-rate files stay variable), in the
        # source's clock from its first frame; without usable timestamps, frame i at i / rate.
        time_base = video.time_base or 1 / Fraction(rate)
        origin, last_pts = first.pts, None
        if regular:  # constant rate: frame i at i / rate exactly, the source's times within a tick
            time_base, origin = 1 / Fraction(rate), None
        count, input_error = 0, None
        with av.open(str(target), mode="w", format="mp4") as output:
            stream = add_h264_stream(output, rate=Fraction(rate), width=width, height=height,
                                     crf=settings.crf, gop_size=settings.gop, preset=settings.preset)  # fmt: skip
            stream.codec_context.time_base = time_base
            stream.time_base = time_base
            try:
                for frame in itertools.chain([first], frames):
                    if turns:
                        stored = frame.to_ndarray(format="rgb24", width=width if turns % 2 == 0 else height,
                                                  height=height if turns % 2 == 0 else width, interpolation="AREA")
                        upright = np.ascontiguousarray(np.rot90(stored, k=turns))
                        scaled = av.VideoFrame.from_ndarray(upright, format="rgb24").reformat(format="yuv420p")
                    else:
                        scaled = frame.reformat(width=width, height=height, format="yuv420p", interpolation="AREA")
                    pts = None if origin is None or frame.pts is None else frame.pts - origin
                    if pts is None or (last_pts is not None and pts <= last_pts):
                        pts = round(count / Fraction(rate) / time_base)
                        pts = pts if last_pts is None or pts > last_pts else last_pts + 1
                    scaled.pts, scaled.time_base, last_pts = pts, time_base, pts
                    output.mux(stream.encode(scaled))
                    count += 1
            except _InputError as error:
                input_error = error  # raised once the output is closed, so closing cannot hide it
            else:
                output.mux(stream.encode(None))
    if input_error is not None:
        raise input_error
    return count


def count_frames(path: Path) -> int:
    """Decodes every frame of a video and counts them."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_count = 1
        return sum(1 for _ in container.decode(stream))


_current_tmp: Path | None = None  # the worker's file in progress, for the SIGTERM handler


def prepare_video(source: Path, final: Path, relative: str, settings: PrepareSettings, min_frames: int) -> PrepareResult:
    """Prepares one video: temporary file, frame-count check, fsync, rename.

    Never raises for a bad input or a write error: the result says what happened, so a worker
    process only ever returns plain data.
    """
    global _current_tmp
    tmp = temporary_path(final)
    _current_tmp = tmp
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            notes: list[str] = []
            frames = transcode(source, tmp, settings, notes)
        except _InputError as error:
            return PrepareResult(relative, "unreadable", str(error))
        if frames < min_frames:
            return PrepareResult(relative, "too_short", f"{frames} frames, fewer than --min-frames {min_frames}", frames)
        try:
            written = count_frames(tmp)
        except Exception as error:
            return PrepareResult(relative, "failed", f"check failed: cannot decode the output: {one_line(error, with_type=True)}", frames)
        if written != frames:
            return PrepareResult(relative, "failed", f"check failed: {frames} frames encoded, {written} decoded back", frames)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, final)
        return PrepareResult(relative, "prepared", "; ".join(notes), frames)
    except Exception as error:  # writing failed: a full disk, a vanished folder, ...
        return PrepareResult(relative, "write_error", f"writing {final}: {one_line(error, with_type=True)}", errno=_errno_of(error))
    finally:
        tmp.unlink(missing_ok=True)
        _current_tmp = None


def _errno_of(error: BaseException) -> int | None:
    while error is not None:
        if getattr(error, "errno", None):
            return error.errno
        error = error.__cause__ or error.__context__
    return None


def prepare_job(job: tuple) -> PrepareResult:
    """:func:`prepare_video` for (source root, destination root, relative path, settings, min frames[, output name])."""
    src_root, dst_root, relative, settings, min_frames, *target = job
    target = target[0] if target else output_name(relative)
    return prepare_video(Path(src_root, relative), Path(dst_root, target), relative, settings, min_frames)


def init_worker() -> None:
    """Workers stop with the main process (Linux) and remove their temporary file on SIGTERM.

    Ctrl-C reaches the whole process group; only the main process acts on it (it terminates the
    workers), so workers print no tracebacks of their own.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: object) -> None:
    if _current_tmp is not None:
        with contextlib.suppress(OSError):
            _current_tmp.unlink()
    os._exit(128 + signum)

