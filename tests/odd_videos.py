"""Odd but ordinary video files, written on the fly with PyAV, each frame showing its own number.

Every frame of a file shows a picture number as 8 black/white bars (bit 0 on the left) over the
top three quarters and a mid-grey band at the bottom, so a reader can tell the number and whether
the picture is upright (a sideways or upside-down frame has no grey band where it belongs).
:class:`OddVideo` records what a player must show: the picture number of each frame k and the
displayed size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

BITS = 8


def marked_frames(pictures: np.ndarray | int, height: int, width: int) -> np.ndarray:
    """uint8 (F, H, W, 3): frame i shows the number ``pictures[i]`` (or i) as bars above a grey band."""
    numbers = np.arange(pictures) if np.isscalar(pictures) else np.asarray(pictures)
    bits = (numbers[:, None] >> np.arange(BITS)[None, :]) & 1  # (F, 8)
    bars = np.repeat(bits * 255, width // BITS, axis=1)  # (F, W)
    frames = np.full((numbers.size, height, width, 3), 128, dtype=np.uint8)
    frames[:, : (3 * height) // 4] = bars[:, None, :width, None]
    return frames


def read_marks(frames: np.ndarray) -> np.ndarray:
    """Picture numbers shown by upright marked frames (..., H, W, 3); -1 where the grey band is missing."""
    height, width = frames.shape[-3:-1]
    centres = ((np.arange(BITS) + 0.5) * width / BITS).astype(int)
    bits = frames[..., (3 * height) // 8, centres, :].mean(axis=-1) > 127  # (..., 8)
    numbers = (bits * (1 << np.arange(BITS))).sum(axis=-1)
    band = frames[..., (7 * height) // 8, :, :].astype(int)  # (..., W, 3)
    upright = (np.abs(band - 128) < 40).all(axis=(-1, -2))
    return np.where(upright, numbers, -1)


@dataclass
class OddVideo:
    """A written file and what a player shows: ``pictures[k]`` on frame k, at ``height`` x ``width``."""

    path: Path
    pictures: np.ndarray
    height: int
    width: int
    timestamps: np.ndarray | None = None  # seconds from the first shown frame, when checked


def _encode(
    path: Path,
    frames: np.ndarray,
    *,
    codec: str = "libx264",
    rate: int = 30,
    pts: np.ndarray | None = None,
    time_base: Fraction | None = None,
    pix_fmt: str = "yuv420p",
    rotation: int | None = None,
    options: dict | None = None,
    container_options: dict | None = None,
) -> Path:
    with av.open(str(path), "w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        stream.codec_context.thread_count = 1
        if options:
            stream.options = options
        if time_base is not None:
            stream.time_base = stream.codec_context.time_base = time_base
        if rotation is not None:
            stream.set_display_rotation(rotation)  # counter-clockwise, as VideoFrame.rotation reads it
        for number, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            if pts is not None:
                picture.pts, picture.time_base = int(pts[number]), time_base
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    return path


def rotated(folder: Path, rotation: int) -> OddVideo:
    """A phone-style video: stored sideways, shown upright through the display rotation."""
    height, width = (160, 96) if rotation in (90, 270) else (96, 160)
    shown = marked_frames(60, height, width)
    stored = np.ascontiguousarray(np.rot90(shown, k=-(rotation // 90), axes=(1, 2)))
    path = _encode(folder / f"rotated{rotation}.mp4", stored, rotation=rotation)
    return OddVideo(path, np.arange(60), height, width)


def start_offset(folder: Path, suffix: str) -> OddVideo:
    """90 frames at 30 fps whose first timestamp is 5 s (MKV, or VP9 WebM)."""
    codec = "libvpx-vp9" if suffix == ".webm" else "libx264"
    path = _encode(folder / f"offset{suffix}", marked_frames(90, 48, 128), codec=codec,
                   pts=np.arange(90) + 150, time_base=Fraction(1, 30))  # fmt: skip
    return OddVideo(path, np.arange(90), 48, 128, np.arange(90) / 30)


def variable_rate(folder: Path, suffix: str) -> OddVideo:
    """60 frames shown alternately for 100 ms and 2 x 20 ms."""
    durations = np.where(np.arange(60) % 3 == 0, 100, 20)  # ms
    pts = np.concatenate([[0], np.cumsum(durations)[:-1]])
    path = _encode(folder / f"vfr{suffix}", marked_frames(60, 48, 128), pts=pts, time_base=Fraction(1, 1000))
    return OddVideo(path, np.arange(60), 48, 128, pts / 1000)


def edit_list(folder: Path) -> OddVideo:
    """90 frames whose timestamps start at -1 s: the MP4 edit list hides the first 30."""
    path = _encode(folder / "editlist.mp4", marked_frames(90, 48, 128), pts=np.arange(90) - 30,
                   time_base=Fraction(1, 30))  # fmt: skip
    return OddVideo(path, np.arange(30, 90), 48, 128, np.arange(60) / 30)


def edit_list_hiding_the_key_frame(folder: Path) -> OddVideo:
    """Like :func:`edit_list`, with a single key frame, among the hidden frames."""
    path = _encode(folder / "editlist_one_key.mp4", marked_frames(90, 48, 128), pts=np.arange(90) - 30,
                   time_base=Fraction(1, 30), options={"x264-params": "scenecut=0:keyint=300"})  # fmt: skip
    return OddVideo(path, np.arange(30, 90), 48, 128, np.arange(60) / 30)


def _noisy(count: int) -> np.ndarray:
    """Marked frames with a noisy strip in the bars' lower part, so packets are large and cut points fall inside the data."""
    frames = marked_frames(count, 96, 256)
    frames[:, 52:64] = np.random.default_rng(0).integers(0, 256, size=(count, 12, 256, 3), dtype=np.uint8)
    return frames


def truncated(folder: Path, suffix: str) -> OddVideo:
    """A 90-frame file cut at half its size (MP4 written with its index first, or MKV).

    The frames that exist are those whose packet lies wholly before the cut, computed here from
    the complete file's packet positions.
    """
    options = {"movflags": "faststart"} if suffix == ".mp4" else None
    whole = _encode(folder / f"whole{suffix}", _noisy(90), container_options=options)
    data = whole.read_bytes()
    cut = len(data) // 2
    with av.open(str(whole)) as container:
        stream = container.streams.video[0]
        frame_ticks = Fraction(1, 30) / stream.time_base
        complete = [round(packet.pts / frame_ticks) for packet in container.demux(stream)
                    if packet.size and packet.pos + packet.size <= cut]  # fmt: skip
    path = folder / f"truncated{suffix}"
    path.write_bytes(data[:cut])
    return OddVideo(path, np.sort(np.asarray(complete)), 96, 256)


def two_streams(folder: Path, suffix: str = ".mp4") -> OddVideo:
    """Stream 0: 50 frames 48x128 at 25 fps; stream 1: 60 frames 96x256 at 30 fps showing 100-159."""
    first, second = marked_frames(50, 48, 128), marked_frames(np.arange(100, 160), 96, 256)
    path = folder / f"two_streams{suffix}"
    with av.open(str(path), "w") as container:
        streams = []
        for frames, rate in ((first, 25), (second, 30)):
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
            streams.append(stream)
        # Interleave by time, as a real muxer would receive them.
        events = sorted([(i / 25, 0, i) for i in range(50)] + [(i / 30, 1, i) for i in range(60)])
        for _, which, number in events:
            frames = first if which == 0 else second
            container.mux(streams[which].encode(av.VideoFrame.from_ndarray(frames[number], format="rgb24")))
        for stream in streams:
            container.mux(stream.encode(None))
    return OddVideo(path, np.arange(50), 48, 128, np.arange(50) / 25)


def ten_bit(folder: Path) -> OddVideo:
    """H.264 High 10 (yuv420p10le)."""
    return OddVideo(_encode(folder / "tenbit.mp4", marked_frames(40, 48, 128), pix_fmt="yuv420p10le"),
                    np.arange(40), 48, 128)  # fmt: skip


def av1_mkv(folder: Path) -> OddVideo:
    """AV1 (SVT-AV1) in Matroska; decord's FFmpeg cannot decode it, PyAV can."""
    return OddVideo(_encode(folder / "av1.mkv", marked_frames(30, 64, 128), codec="libsvtav1"), np.arange(30), 64, 128)


def mpeg4_avi(folder: Path) -> OddVideo:
    """MPEG-4 part 2 with B-frames in AVI (decord's timestamps for it are unset)."""
    path = folder / "mpeg4.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = 128, 48, "yuv420p"
        stream.options = {"bf": "2"}
        for frame in marked_frames(40, 48, 128):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    return OddVideo(path, np.arange(40), 48, 128)


def encoder_exists(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:  # PyAV raises UnknownCodecError (or ValueError in older versions)
        return False
    return True


def make_odd_videos(folder: Path) -> dict[str, OddVideo]:
    """All the odd files, by name (AV1 only when the encoder exists)."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {f"rotated{r}": rotated(folder, r) for r in (90, 180, 270)}
    made |= {
        "offset_mkv": start_offset(folder, ".mkv"),
        "offset_webm": start_offset(folder, ".webm"),
        "vfr_mkv": variable_rate(folder, ".mkv"),
        "vfr_mp4": variable_rate(folder, ".mp4"),
        "edit_list": edit_list(folder),
        "edit_list_one_key": edit_list_hiding_the_key_frame(folder),
        "truncated_mp4": truncated(folder, ".mp4"),
        "truncated_mkv": truncated(folder, ".mkv"),
        "two_streams": two_streams(folder),
        "ten_bit": ten_bit(folder),
        "mpeg4_avi": mpeg4_avi(folder),
    }
    if encoder_exists("libsvtav1"):
        made["av1_mkv"] = av1_mkv(folder)
    for name in ("whole.mp4", "whole.mkv"):
        os.remove(folder / name)  # the complete originals of the truncated files
    return made
