"""Writing videos with PyAV: small test and synthetic videos, and the H.264 stream settings that
``a2video prepare`` re-encodes with."""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from a2video.files import atomic_path


def add_h264_stream(
    container: av.container.OutputContainer,
    *,
    rate: int | Fraction,
    width: int,
    height: int,
    codec: str = "libx264",
    crf: int = 23,
    gop_size: int | None = None,
    preset: str | None = None,
    threads: int = 1,
) -> av.video.stream.VideoStream:
    """Adds a yuv420p video stream to an output container.

    Args:
        container: Opened for writing.
        rate: Frame rate; a Fraction keeps NTSC rates (30000/1001) exact.
        width: Frame width (even).
        height: Frame height (even).
        codec: Encoder name known to the FFmpeg bundled with PyAV.
        crf: x264 constant rate factor (lower = better quality, larger file).
        gop_size: Frames between key frames; ``None`` keeps the encoder default. x264 may add
            key frames at scene cuts, never fewer.
        preset: x264 preset (``ultrafast`` ... ``veryslow``); ``None`` keeps ``medium``.
        threads: Encoder threads. 1 makes the bytes depend only on the frames: with several
            threads x264 was seen to encode the same frames differently when the machine was
            busy, which made the synthetic set differ between runs.

    Returns:
        The stream; its codec context's time base is ``1 / rate``.
    """
    stream = container.add_stream(codec, rate=rate)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    if codec == "libx264":
        stream.options = {"crf": str(crf), **({"preset": preset} if preset else {})}
    stream.codec_context.thread_count = threads
    if gop_size is not None:
        stream.codec_context.gop_size = gop_size
    return stream


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray | Iterable[np.ndarray],
    fps: int | Fraction = 25,
    *,
    codec: str = "libx264",
    crf: int = 23,
    gop_size: int | None = None,
    preset: str | None = None,
    threads: int = 1,
) -> Path:
    """Encodes uint8 RGB frames into an H.264 video file.

    The file is written under a temporary name and renamed at the end (:func:`a2video.files.atomic_path`),
    so an interrupted run never leaves a half-written video under the final name.

    Args:
        path: Output file; its suffix picks the container (``.mp4``, ``.avi``, ...).
        frames: uint8 array (T, H, W, 3), RGB, or an iterable of (H, W, 3) frames (long or
            large videos need not fit in memory). H and W must be even (yuv420p).
        fps: Frame rate.
        codec: Encoder name known to the FFmpeg bundled with PyAV.
        crf: x264 constant rate factor (lower = better quality, larger file).
        gop_size: Frames between key frames; ``None`` keeps the encoder default.
        preset: x264 preset; ``None`` keeps the encoder default (``medium``).
        threads: Encoder threads (see :func:`add_h264_stream`; 1 = reproducible bytes).

    Returns:
        The path written.

    Raises:
        ValueError: If a frame has the wrong dtype, rank, size or odd sizes, or there is none.
    """
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w") as container:
        stream = None
        for frame in frames:
            frame = np.asarray(frame)
            if stream is None:
                _check_first_frame(frame)
                height, width = frame.shape[:2]
                stream = add_h264_stream(container, rate=fps, width=width, height=height, codec=codec,
                                         crf=crf, gop_size=gop_size, preset=preset, threads=threads)  # fmt: skip
            elif frame.shape != (height, width, 3) or frame.dtype != np.uint8:
                raise ValueError(f"every frame must be uint8 {(height, width, 3)}, got {frame.dtype} {frame.shape}")
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        if stream is None:
            raise ValueError("need at least one frame")
        container.mux(stream.encode(None))  # flush delayed frames
    return Path(path)


def _check_first_frame(frame: np.ndarray) -> None:
    if frame.dtype != np.uint8 or frame.shape[-1:] != (3,) or frame.ndim != 3:
        raise ValueError(f"frames must be uint8 (T, H, W, 3) or (H, W, 3) each, got {frame.dtype} {frame.shape}")
    if frame.shape[0] % 2 or frame.shape[1] % 2:
        raise ValueError(f"need even H, W for yuv420p, got {frame.shape}")
