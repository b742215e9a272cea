"""Reading selected frames of a video file as uint8 RGB arrays.

Two backends: decord (default: seeks, decodes only up to the frames asked for,
and resizes inside the decoder) and PyAV (selectable, and the fallback for files
decord cannot read). Both return uint8 arrays (T, H, W, 3); normalisation happens
later, on the device.

The header is read first with PyAV (:func:`probe_video`, no decoding), so the
caller knows the frame count and size before choosing frames and output size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import av
import decord
import numpy as np

Backend = Literal["decord", "pyav"]
BACKENDS: tuple[str, ...] = ("decord", "pyav")


class VideoDecodeError(RuntimeError):
    """A video could not be opened or decoded; ``reason`` says why in one line."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


@dataclass(frozen=True)
class VideoInfo:
    """What the container header says about the first video stream."""

    num_frames: int
    height: int
    width: int
    fps: float


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return f"{type(error).__name__}: {text}"


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Reads frame count, size and frame rate from the header, without decoding.

    When the container does not store a frame count, it is estimated from the
    duration; decoders clamp requests past the real end, so an estimate is safe.

    Raises:
        VideoDecodeError: If the file is missing, not a video, or has no frames.
    """
    if not os.path.isfile(path):
        raise VideoDecodeError(path, "file not found")
    if os.path.getsize(path) == 0:
        raise VideoDecodeError(path, "empty file (0 bytes)")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoDecodeError(path, "no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.base_rate or 0)
            num_frames = stream.frames
            if num_frames <= 0 and stream.duration and stream.time_base and fps:
                num_frames = int(round(float(stream.duration * stream.time_base) * fps))
            if num_frames <= 0 and container.duration and fps:
                num_frames = int(round(container.duration / av.time_base * fps))
            info = VideoInfo(num_frames, stream.codec_context.height, stream.codec_context.width, fps)
    except VideoDecodeError:
        raise
    except Exception as error:  # PyAV raises many types for unreadable input
        raise VideoDecodeError(path, f"cannot open: {_one_line(error)}") from error
    if info.num_frames <= 0 or info.height <= 0 or info.width <= 0:
        raise VideoDecodeError(path, f"no decodable frames (header: {info})")
    return info


def _decode_decord(path: str, indices: np.ndarray, size: tuple[int, int] | None, num_threads: int) -> np.ndarray:
    height, width = size if size is not None else (-1, -1)
    reader = decord.VideoReader(path, ctx=decord.cpu(0), width=width, height=height, num_threads=num_threads)
    # The header's count (used for sampling) and decord's may differ by a few frames.
    indices = np.minimum(indices, len(reader) - 1)
    unique, inverse = np.unique(indices, return_inverse=True)
    batch = reader.get_batch(unique.tolist())
    # decord's global bridge may be set to torch elsewhere; accept both.
    frames = batch.asnumpy() if hasattr(batch, "asnumpy") else np.asarray(batch)
    return frames[inverse]


def _decode_pyav(path: str, indices: np.ndarray, size: tuple[int, int] | None, num_threads: int) -> np.ndarray:
    height, width = size if size is not None else (None, None)
    wanted = set(indices.tolist())
    last_wanted = max(wanted)
    decoded: dict[int, np.ndarray] = {}
    last_number, last_frame = -1, None
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = num_threads
        # Decoding from the start counts frames exactly, whatever the timestamps say.
        for last_number, last_frame in enumerate(container.decode(stream)):
            if last_number in wanted:
                decoded[last_number] = last_frame.to_ndarray(format="rgb24", width=width, height=height)
            if last_number >= last_wanted:
                break
        if last_frame is None:
            raise VideoDecodeError(path, "no frame could be decoded")
        if last_number not in decoded:
            # The stream ended before some wanted frames (the header over-counted).
            decoded[last_number] = last_frame.to_ndarray(format="rgb24", width=width, height=height)
    return np.stack([decoded[number] for number in np.minimum(indices, last_number).tolist()])


def read_frames(
    path: str | os.PathLike,
    indices: np.ndarray,
    size: tuple[int, int] | None = None,
    backend: Backend = "decord",
    fallback: bool = True,
    num_threads: int = 0,
) -> np.ndarray:
    """Decodes the frames at ``indices`` (any order, repeats allowed).

    Args:
        path: Video file.
        indices: int array of frame numbers, any shape; past-the-end values are
            clamped to the last frame.
        size: (height, width) to resize to inside the decoder; ``None`` keeps the
            original size.
        backend: ``"decord"`` or ``"pyav"``.
        fallback: With decord, retry with PyAV when decord fails.
        num_threads: Decoder threads (0 = the library's choice). Use 1 inside
            DataLoader workers so workers do not compete for cores.

    Returns:
        uint8 array ``indices.shape + (H, W, 3)``, RGB.

    Raises:
        VideoDecodeError: If no backend could decode the video.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    indices = np.asarray(indices, dtype=np.int64)
    if indices.size == 0 or indices.min() < 0:
        raise ValueError(f"frame indices must be a non-empty set of non-negative numbers, got {indices}")
    flat = indices.reshape(-1)
    attempts = [backend] + (["pyav"] if backend == "decord" and fallback else [])
    reasons = []
    for name in attempts:
        decode = _decode_decord if name == "decord" else _decode_pyav
        try:
            frames = decode(str(path), flat, size, num_threads)
        except VideoDecodeError as error:
            reasons.append(f"{name}: {error.reason}")
        except Exception as error:  # decord raises RuntimeError/DECORDError, PyAV many types
            reasons.append(f"{name}: {_one_line(error)}")
        else:
            return frames.reshape(indices.shape + frames.shape[1:])
    raise VideoDecodeError(path, "; ".join(reasons))
