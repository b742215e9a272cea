"""Writing small videos with PyAV (used by the synthetic set, the tests and the benchmark)."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np

from a2video.files import atomic_path


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray,
    fps: int = 25,
    *,
    codec: str = "libx264",
    crf: int = 23,
    gop_size: int | None = None,
    threads: int = 1,
) -> Path:
    """Encodes uint8 RGB frames into an H.264 video file.

    The file is written under a temporary name and renamed at the end (:func:`a2video.files.atomic_path`),
    so an interrupted run never leaves a half-written video under the final name.

    Args:
        path: Output file; its suffix picks the container (``.mp4``, ``.avi``, ...).
        frames: uint8 array (T, H, W, 3), RGB. H and W must be even (yuv420p).
        fps: Frame rate.
        codec: Encoder name known to the FFmpeg bundled with PyAV.
        crf: x264 constant rate factor (lower = better quality, larger file).
        gop_size: Frames between key frames; ``None`` keeps the encoder default.
        threads: Encoder threads. 1 (the default) makes the bytes depend only on the frames:
            with several threads x264 was seen to encode the same frames differently when the
            machine was busy, which made the synthetic set differ between runs.

    Returns:
        The path written.

    Raises:
        ValueError: If ``frames`` has the wrong dtype, rank or odd sizes.
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    num_frames, height, width, _ = frames.shape
    if num_frames == 0 or height % 2 or width % 2:
        raise ValueError(f"need at least one frame and even H, W for yuv420p, got {frames.shape}")
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": str(crf)}
        stream.codec_context.thread_count = threads
        if gop_size is not None:
            stream.codec_context.gop_size = gop_size
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))  # flush delayed frames
    return Path(path)
