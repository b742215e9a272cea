"""Reading selected frames of a video file as uint8 RGB arrays, as a player shows them.

What "frame k" means, for every backend (docs/DESIGN.md, "Decoding"):

- **One stream**: the first video stream that is not an attached picture (cover art). Header,
  timestamps and decoding all use it.
- **Frame k** is the k-th frame a player shows, in presentation order: frames an MP4 edit
  list hides are not counted, and a file's start offset does not matter.
- **Orientation**: the display rotation (phone video) is applied; sizes are displayed sizes.
- **Frames that exist**: a frame counts only if its packet is complete in the file, so a
  truncated file has fewer frames. Asking for a frame that does not exist, or one the decoder
  rejects, raises :class:`VideoDecodeError`; nothing is ever padded with a repeated frame.

:func:`probe_video` reads the frame table once per file (the MP4 sample index when it is
complete and regular, otherwise one pass over the packets without decoding) and decodes the
first frame (its display rotation is only known from a decoded frame). :func:`read_frames`
then decodes with decord (default: seeks, resizes inside the decoder) when decord's view of
the file agrees with the probe's (same frame count and timestamps, one video stream, the
expected output size), and with PyAV otherwise, or when asked to. torchcodec (optional extra,
CPU or CUDA decoding) is a backend like decord: used where its frame count, the timestamps of
the frames it returns and their size agree with the probe, PyAV otherwise.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import av
import decord
import numpy as np
import torch
import torch.nn.functional as F

from a2video.errors import ConfigError, one_line

log = logging.getLogger(__name__)
# decord's own FFmpeg prints its log lines ("[mov,mp4,...] partial file") straight to stderr; what
# a video's reading found is reported by the commands, once, in their own words.
decord.logging.set_level(decord.logging.QUIET)

Backend = Literal["decord", "pyav", "torchcodec"]
BACKENDS: tuple[str, ...] = ("decord", "pyav", "torchcodec")
# Backends that seek and resize inside the decoder, checked against the probe, PyAV behind them.
FAST_BACKENDS: tuple[str, ...] = ("decord", "torchcodec")
TORCHCODEC_INSTALL = ("pip install 'a2video[torchcodec]' (or torchcodec) and FFmpeg's shared libraries, "
                      "e.g. apt-get install ffmpeg or conda install ffmpeg")  # fmt: skip


class VideoDecodeError(RuntimeError):
    """A video could not be opened or decoded; ``reason`` says why in one line."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class NoFramesError(VideoDecodeError):
    """The file opens and has a video stream, but not one frame of it can be decoded."""


@dataclass(frozen=True)
class StreamHeader:
    """What the container's header says of the stream, as PyAV reports it.

    PySlowFast's reader places its clips from these values, not from the frames that exist
    (:class:`a2video.data.protocols.SlowFastReader`), so they are kept as read, wrong or missing.

    Attributes:
        frames: ``stream.frames``: 0 where the container does not count them (MKV, WebM); an MP4
            counts the frames its edit list hides, and a truncated file the ones cut off.
        duration: ``stream.duration`` in ``time_base`` ticks; None where the header has none.
        time_base: Seconds per tick of the stream's clock, as (numerator, denominator).
        average_rate: ``stream.average_rate`` (0.0 where unknown).
        first_pts: Presentation timestamp (ticks) of the first frame shown.
        start_time: ``stream.start_time`` (ticks; None where the header has none), where
            pytorchvideo puts 0 s.
    """

    frames: int
    duration: int | None
    time_base: tuple[int, int]
    average_rate: float
    first_pts: int
    start_time: int | None = None


@dataclass(frozen=True, eq=False)
class VideoInfo:
    """The decoded stream as a player shows it.

    Attributes:
        num_frames: Frames that exist (complete packets, edit lists applied).
        height: Displayed height (rotation applied).
        width: Displayed width.
        fps: Average frame rate of the stream.
        last_time: Presentation time of the last frame, in seconds from the first.
        rotation: Counter-clockwise quarter-turn rotation applied for display (0, 90, 180, 270).
        stream_index: Container index of the stream used.
        num_video_streams: Video streams in the file (attached pictures excluded).
        codec: Decoder name (``h264``, ``vp9``, ...).
        pixel_format: Stored pixel format (``yuv420p``, ``yuv420p10le``, ...).
        bit_depth: Bits per luma sample.
        frame_table: Where the frame table came from: ``"index"`` (the container's sample
            index, no packet read) or ``"packets"`` (one pass over the packets).
        truncated: The file ends before its header says: an incomplete last packet, a
            container error, or frames ending well before the header's duration (more than
            0.5 s and 5 %).
        irregular_times: float64 (num_frames,) frame times when the intervals differ by more
            than one tick of the stream's clock, else ``None`` (times are then regular; see
            :attr:`timestamps`). Kept only then, because datasets cache one probe per video.
        header: The header's own account of the stream (None where not probed from a file).
        tick_offsets: (num_frames,) integers: how far each frame's pts lies from the regular grid
            :meth:`frame_pts` rebuilds (a 30 fps stream on a millisecond clock alternates 33 and
            34), else ``None``; kept so that pts are exact, at one byte per frame.
    """

    num_frames: int
    height: int
    width: int
    fps: float
    last_time: float
    rotation: int = 0
    stream_index: int = 0
    num_video_streams: int = 1
    codec: str = ""
    pixel_format: str = ""
    bit_depth: int = 8
    frame_table: str = "index"
    truncated: bool = False
    irregular_times: np.ndarray | None = field(default=None, repr=False)
    header: StreamHeader | None = None
    tick_offsets: np.ndarray | None = field(default=None, repr=False)

    @property
    def timestamps(self) -> np.ndarray:
        """float64 (num_frames,): presentation time of each frame in seconds from the first (0.0), increasing."""
        if self.irregular_times is not None:
            return self.irregular_times
        step = self.last_time / (self.num_frames - 1) if self.num_frames > 1 else 0.0
        return np.arange(self.num_frames) * step

    def frame_pts(self) -> np.ndarray:
        """int64 (num_frames,): each frame's presentation timestamp in ticks of the stream's clock, as PyAV gives it."""
        if self.header is None:
            raise ValueError("frame timestamps need a probed header (probe_video)")
        numerator, denominator = self.header.time_base
        ticks = np.round(self.timestamps * denominator / numerator).astype(np.int64)
        if self.tick_offsets is not None:
            ticks += self.tick_offsets
        return self.header.first_pts + ticks

    @property
    def variable_frame_rate(self) -> bool:
        """Whether frame intervals differ by more than 10 % (or 2 ms) of the typical one."""
        intervals = np.diff(self.timestamps)
        if intervals.size < 2:
            return False
        return float(intervals.max() - intervals.min()) > max(0.002, 0.1 * float(np.median(intervals)))


def video_notes(info: VideoInfo) -> dict[str, str]:
    """What every command says about a readable but damaged or unusual file: flag -> one phrase.

    The one wording of ``check``'s flags, ``predict``/``features``' notes and ``prepare``'s report.
    """
    notes = {}
    if info.truncated:
        notes["truncated"] = (f"truncated: {info.num_frames} frames readable, the file ends before its header says "
                              "(clips are sampled within them)")
    if info.num_video_streams > 1:
        notes["several_streams"] = (f"{info.num_video_streams} video streams: stream #{info.stream_index} used "
                                    f"({info.width}x{info.height}, {info.fps:.3g} fps)")
    return notes


def _video_streams(container: av.container.InputContainer) -> list:
    """Video streams in container order, cover art (attached pictures) left out."""
    return [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]


def _ticks_from_index(stream, file_size: int) -> np.ndarray | None:
    """Frame times (stream ticks) from the container's sample index, or None if it cannot be trusted.

    MP4/MOV and AVI index every sample with its decode time; for a regular (constant-rate)
    stream the sorted decode times are the presentation times up to a constant, which is all
    relative timestamps need. Variable-rate or truncated files need the packets themselves.
    """
    entries = stream.index_entries
    if stream.frames <= 0 or len(entries) != stream.frames:
        return None
    # Entry fields must be read while the container is open.
    kept, outside = [], False
    for entry in entries:
        outside |= entry.pos + entry.size > file_size
        if not entry.is_discard:
            kept.append(entry.timestamp)
    ticks = np.sort(np.asarray(kept, dtype=np.int64))
    steps = np.diff(ticks)
    if outside or ticks.size == 0 or (steps.size and steps.max() - steps.min() > 1):
        return None
    return ticks


def _rotation(frame: av.VideoFrame) -> int:
    """Counter-clockwise display rotation of a decoded frame, as a multiple of 90 degrees."""
    turns = round((frame.rotation or 0) / 90) % 4
    return 90 * turns


def _packets(container, stream, problems: list[str] | None = None):
    """The stream's packets in file order, flush packets left out; a damaged container ends them.

    A demuxer error is where any sequential reader stops too, so the frames before it are what
    exists; it is appended to ``problems``.
    """
    iterator = container.demux(stream)
    while True:
        try:
            packet = next(iterator)
        except StopIteration:
            return
        except av.error.FFmpegError as error:
            log.debug("%s: reading stops at a container error: %s", container.name, one_line(error, with_type=True))
            if problems is not None:
                problems.append(one_line(error, with_type=True))
            return
        if packet.size:
            yield packet


def _first_keyframe(stream, packet) -> list[av.VideoFrame]:
    """Decodes one key-frame packet on its own (other frames are skipped, the reorder delay drained)."""
    frames = stream.decode(packet) + stream.decode(None)
    stream.codec_context.flush_buffers()  # ready for another try if an edit list hid this one
    return frames


def _first_frame_in_full(path: str, stream_index: int) -> list[av.VideoFrame]:
    """The first frame a player shows, decoding every frame from the start (the slow, sure way)."""
    with av.open(path) as container:
        stream = container.streams[stream_index]
        for packet in _packets(container, stream):
            if not packet.is_corrupt and (frames := stream.decode(packet)):
                return frames
        return stream.decode(None)


def _scan(container, stream, file_size: int) -> tuple[np.ndarray, str, av.VideoFrame, bool, int]:
    """Frame times (ticks, sorted), where they came from, the first decoded frame, whether the data
    ends early, and the first shown frame's pts.

    The first frame is only needed for its size and display rotation, so only key frames are
    decoded until one comes out (a key frame an edit list hides does not).
    """
    stream.thread_type = "SLICE"
    stream.codec_context.thread_count = 1
    stream.codec_context.skip_frame = "NONKEY"
    ticks = _ticks_from_index(stream, file_size)
    source = "index" if ticks is not None else "packets"
    packet_ticks: list[int | None] = []
    first_frames: list[av.VideoFrame] = []
    problems: list[str] = []
    reorder_delay = 0  # pts - dts of a key frame: what turns the index's decode times into presentation times
    for packet in _packets(container, stream, problems):
        if packet.is_corrupt:
            problems.append("incomplete packet")  # a truncated file's last packet
            continue
        if not first_frames and packet.is_keyframe:
            first_frames = _first_keyframe(stream, packet)
            if packet.pts is not None and packet.dts is not None:
                reorder_delay = packet.pts - packet.dts
        if ticks is not None and first_frames:
            break
        if not packet.is_discard:
            packet_ticks.append(packet.pts if packet.pts is not None else packet.dts)
    if not first_frames:
        first_frames = _first_frame_in_full(container.name, stream.index)
    if not first_frames:
        raise NoFramesError(container.name, "no frame could be decoded")
    if ticks is None:
        if any(tick is None for tick in packet_ticks):  # no timestamps at all: times from the rate
            rate = float(stream.average_rate or stream.guessed_rate or 25)
            ticks = np.round(np.arange(len(packet_ticks)) / rate / float(stream.time_base)).astype(np.int64)
        else:
            ticks = np.sort(np.asarray(packet_ticks, dtype=np.int64))
    first_pts = int(ticks[0]) + (reorder_delay if source == "index" else 0)
    return ticks, source, first_frames[0], bool(problems), first_pts


def _ends_early(container, stream, ticks: np.ndarray) -> bool:
    """Whether the frames end more than 0.5 s and 5 % before the duration in the header.

    Streams and containers count duration from 0 or from the start time depending on the
    format, so the frames' end is taken from 0 (start offset included), which never makes a
    complete file look short.
    """
    if stream.duration:
        header = float(stream.duration * stream.time_base)
    elif container.duration:
        header = container.duration / av.time_base
    else:
        return False
    interval = (ticks[-1] - ticks[0]) / (ticks.size - 1) if ticks.size > 1 else 0.0
    covered = float((ticks[-1] + interval) * stream.time_base)
    return covered < header - max(0.5, 0.05 * header)


def _frame_rate(stream, timestamps: np.ndarray) -> float:
    """The header's average rate when the timestamps agree with it (within 1 %), else the timestamps' own."""
    header = float(stream.average_rate or 0)
    if timestamps.size < 2 or timestamps[-1] <= 0:
        return header
    measured = (timestamps.size - 1) / float(timestamps[-1])
    return header if abs(header - measured) <= 0.01 * measured else measured


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Reads the frame table, displayed size and rotation of the video stream.

    Cost: opening the file, the container's sample index (MP4/MOV/AVI with a regular frame
    rate) or one pass over the packets without decoding them (MKV, WebM, variable rate,
    truncated files), and decoding the first frame. Measured figures are in docs/PERFORMANCE.md.

    Raises:
        VideoDecodeError: If the file is missing, not a video, or has no decodable frame.
    """
    if not os.path.isfile(path):
        raise VideoDecodeError(path, "file not found")
    file_size = os.path.getsize(path)
    if file_size == 0:
        raise VideoDecodeError(path, "empty file (0 bytes)")
    try:
        with av.open(str(path)) as container:
            streams = _video_streams(container)
            if not streams:
                raise VideoDecodeError(path, "no video stream")
            stream = streams[0]
            ticks, source, first, incomplete, first_pts = _scan(container, stream, file_size)
            rotation = _rotation(first)
            stored_height, stored_width = first.height, first.width
            timestamps = (ticks - ticks[0]).astype(np.float64) * float(stream.time_base)
            steps = np.diff(ticks)
            regular = steps.size == 0 or steps.max() - steps.min() <= 1
            rate = _frame_rate(stream, timestamps)
            pixel_format = stream.codec_context.pix_fmt or ""
            bit_depth = av.VideoFormat(pixel_format).components[0].bits if pixel_format else 8
            height, width = (stored_width, stored_height) if rotation in (90, 270) else (stored_height, stored_width)
            info = VideoInfo(
                num_frames=int(ticks.size), height=height, width=width, fps=rate, last_time=float(timestamps[-1]),
                rotation=rotation, stream_index=stream.index, num_video_streams=len(streams),
                codec=stream.codec_context.name, pixel_format=pixel_format, bit_depth=bit_depth, frame_table=source,
                truncated=incomplete or _ends_early(container, stream, ticks),
                irregular_times=None if regular else timestamps,
                header=StreamHeader(
                    frames=int(stream.frames or 0), duration=None if stream.duration is None else int(stream.duration),
                    time_base=(stream.time_base.numerator, stream.time_base.denominator),
                    average_rate=float(stream.average_rate or 0), first_pts=first_pts,
                    start_time=None if stream.start_time is None else int(stream.start_time)),
            )  # fmt: skip
            offsets = first_pts + (ticks - ticks[0]) - info.frame_pts()
            if offsets.any():  # one byte each unless the intervals drift (33 ticks, then 34, ...)
                small = np.abs(offsets).max() <= np.iinfo(np.int8).max
                info = dataclasses.replace(info, tick_offsets=offsets.astype(np.int8 if small else np.int32))
    except VideoDecodeError as error:
        raise type(error)(path, error.reason) from error
    except Exception as error:  # PyAV raises many types for unreadable input
        raise VideoDecodeError(path, f"cannot open: {one_line(error, with_type=True)}") from error
    return info


class _Disagreement(Exception):
    """decord's view of the file differs from the probe's; PyAV decodes it instead."""


def _timestamp_tolerance(info: VideoInfo) -> float:
    """A quarter of the mean frame interval (plus 1 ms of rounding): closer than any other frame."""
    frames = info.num_frames
    return 0.001 + (0.25 * info.last_time / (frames - 1) if frames > 1 else 0.0)


def _decode_decord(
    path: str, indices: np.ndarray, size: tuple[int, int] | None, num_threads: int, info: VideoInfo
) -> np.ndarray:
    if info.num_video_streams > 1:
        raise _Disagreement(f"{info.num_video_streams} video streams, and decord cannot be told which to decode")
    height, width = size if size is not None else (info.height, info.width)
    # decord applies the display rotation itself and takes the displayed output size.
    reader = decord.VideoReader(path, ctx=decord.cpu(0), width=width, height=height, num_threads=num_threads)
    if len(reader) != info.num_frames:
        raise _Disagreement(f"decord counts {len(reader)} frames where a player shows {info.num_frames}")
    # A list, not an array: decord converts a Python list faster than a NumPy array.
    times = np.asarray(reader.get_frame_timestamp(list(range(len(reader))))[:, 0], dtype=np.float64)
    if not np.allclose(times - times[0], info.timestamps, rtol=0, atol=_timestamp_tolerance(info)):
        raise _Disagreement("decord's frame timestamps differ from the stream's")
    unique, inverse = np.unique(indices, return_inverse=True)
    batch = reader.get_batch(unique.tolist())
    # decord's global bridge may be set to torch elsewhere; accept both.
    frames = batch.asnumpy() if hasattr(batch, "asnumpy") else np.asarray(batch)
    if frames.shape != (unique.size, height, width, 3):
        raise _Disagreement(f"decord returned frames of shape {frames.shape[1:]}, not {(height, width, 3)}")
    return frames[inverse]


_torchcodec_loaded: tuple | str | None = None  # (VideoDecoder, Resize), or why it cannot be used


def _torchcodec() -> tuple:
    """torchcodec's ``VideoDecoder`` and ``Resize``, imported on first use (an optional extra).

    Raises:
        ConfigError: If torchcodec cannot be imported or cannot load FFmpeg's libraries.
    """
    global _torchcodec_loaded
    if _torchcodec_loaded is None:
        try:
            import torchcodec
            from torchcodec.decoders import VideoDecoder
            from torchcodec.transforms import Resize
        except Exception as error:  # ImportError, or RuntimeError/OSError from its native libraries
            _torchcodec_loaded = f"it cannot be imported ({one_line(error, with_type=True)})"
        else:
            # Since 0.8 torchcodec imports without FFmpeg and says so here (None); older ones fail above.
            if getattr(torchcodec, "ffmpeg_major_version", 0) is None:
                _torchcodec_loaded = "it cannot load FFmpeg's shared libraries (PyAV's own copy is not usable by it)"
            else:
                _torchcodec_loaded = (VideoDecoder, Resize)
    if isinstance(_torchcodec_loaded, str):
        raise ConfigError(f"decoder backend torchcodec: {_torchcodec_loaded}; install: {TORCHCODEC_INSTALL}")
    return _torchcodec_loaded


def torchcodec_available() -> bool:
    """Whether the torchcodec backend can be used here (package and FFmpeg's libraries)."""
    try:
        _torchcodec()
    except ConfigError:
        return False
    return True


def check_backend(backend: str, device: str = "cpu") -> None:
    """Fails early, in one line, on a backend or decoding device that cannot work here.

    Args:
        backend: One of :data:`BACKENDS`.
        device: ``"cpu"``, or ``"cuda"`` / ``"cuda:N"`` (torchcodec only).

    Raises:
        ConfigError: Unknown backend, torchcodec missing, or a CUDA device without torchcodec or a GPU.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"decoder backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if device != "cpu" and (backend != "torchcodec" or not device.startswith("cuda")):
        raise ConfigError(f"decoding device {device!r} needs backend torchcodec and a CUDA device; "
                          f"use device cpu with {backend}")  # fmt: skip
    if backend == "torchcodec":
        _torchcodec()
    if device != "cpu" and not torch.cuda.is_available():
        raise ConfigError(f"decoding device {device!r}: torch sees no CUDA device here; use device cpu")


def resize_frames(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear, antialiased resize of uint8 (N, H, W, 3) frames on their own device, rounded back to uint8."""
    planes = frames.permute(0, 3, 1, 2).float()  # (N, 3, H, W)
    resized = F.interpolate(planes, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return resized.round_().clamp_(0, 255).to(frames.dtype).permute(0, 2, 3, 1)  # (N, height, width, 3)


@contextmanager
def _one_torch_thread():
    """torch's thread pool at 1 thread for the duration (then as it was).

    torchcodec copies each resized frame into its batch with a torch op; with more than one torch
    thread (decoding in the main process) the pool's spinning threads cost 2.1-2.4x the CPU time
    of the whole decode (docs/PERFORMANCE.md). DataLoader workers already run with 1.
    """
    threads = torch.get_num_threads()
    if threads > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if threads > 1:
            torch.set_num_threads(threads)


def _decode_torchcodec(
    path: str, indices: np.ndarray, size: tuple[int, int] | None, num_threads: int, info: VideoInfo,
    device: str = "cpu",
) -> np.ndarray:  # fmt: skip
    VideoDecoder, Resize = _torchcodec()
    height, width = size if size is not None else (info.height, info.width)
    # torchcodec applies the display rotation before its transforms, so sizes are displayed ones.
    # Its transforms run on the CPU only: CUDA frames are resized on the GPU below.
    resize = (height, width) != (info.height, info.width) and device == "cpu"
    unique, inverse = np.unique(indices, return_inverse=True)
    # Frame 0 comes along as the origin of the returned times: its index can be off by itself
    # (MPEG-4 AVI: index times are decode times, so every frame came back one picture early).
    wanted = unique if unique[0] == 0 else np.concatenate([[0], unique])
    with _one_torch_thread():
        decoder = VideoDecoder(path, stream_index=info.stream_index, dimension_order="NHWC",
                               num_ffmpeg_threads=num_threads, device=device,
                               transforms=[Resize((height, width))] if resize else None)  # fmt: skip
        if len(decoder) != info.num_frames:
            raise _Disagreement(f"torchcodec counts {len(decoder)} frames where a player shows {info.num_frames}")
        batch = decoder.get_frames_at(wanted.tolist())
    times = batch.pts_seconds.double().cpu().numpy()  # presentation times of the decoded frames
    if not np.allclose(times - times[0], info.timestamps[wanted], rtol=0, atol=_timestamp_tolerance(info)):
        raise _Disagreement("torchcodec returned frames whose timestamps are not those of the frames asked for")
    frames = batch.data[wanted.size - unique.size :]  # (U, h, w, 3) on the decoding device
    if device != "cpu" and tuple(frames.shape[1:3]) != (height, width):
        frames = resize_frames(frames, height, width)
    frames = frames.cpu().numpy()  # the datasets' crops and flips work on host arrays
    if frames.shape != (unique.size, height, width, 3):
        raise _Disagreement(f"torchcodec returned frames of shape {frames.shape[1:]}, not {(height, width, 3)}")
    return frames[inverse]


def _displayed(frame: av.VideoFrame, height: int, width: int, rotation: int) -> np.ndarray:
    """(height, width, 3) RGB of a decoded frame, resized in its stored orientation, then rotated."""
    turns = rotation // 90
    stored_height, stored_width = (width, height) if turns % 2 else (height, width)
    array = frame.to_ndarray(format="rgb24", width=stored_width, height=stored_height)
    return np.ascontiguousarray(np.rot90(array, k=turns)) if turns else array


def _decode_pyav(
    path: str, indices: np.ndarray, size: tuple[int, int] | None, num_threads: int, info: VideoInfo
) -> np.ndarray:
    height, width = size if size is not None else (info.height, info.width)
    wanted = set(indices.tolist())
    last_wanted = max(wanted)
    decoded: dict[int, np.ndarray] = {}
    number = 0

    def take(frames: list[av.VideoFrame]) -> None:
        nonlocal number
        for frame in frames:  # presentation order; frames an edit list hides never come out
            if number in wanted:
                decoded[number] = _displayed(frame, height, width, info.rotation)
            number += 1

    with av.open(path) as container:
        stream = container.streams[info.stream_index]
        # Slice threads only: with frame threads, whether a damaged packet raised or was skipped
        # depended on the thread count; this way a read has one outcome.
        stream.thread_type = "SLICE"
        stream.codec_context.thread_count = num_threads
        for packet in _packets(container, stream):
            if not packet.is_corrupt:  # an incomplete packet (truncated file) is not counted by the probe
                take(stream.decode(packet))
            if number > last_wanted:
                break
        else:
            take(stream.decode(None))  # frames held back for reordering
    missing = sorted(wanted - decoded.keys())
    if missing:
        raise VideoDecodeError(
            path, f"frame {missing[0]} does not exist: {number} of the {info.num_frames} frames could be decoded"
        )
    return np.stack([decoded[i] for i in indices.tolist()])


def read_frames(
    path: str | os.PathLike,
    indices: np.ndarray,
    size: tuple[int, int] | None = None,
    backend: Backend = "decord",
    fallback: bool = True,
    num_threads: int = 0,
    *,
    info: VideoInfo | None = None,
    device: str = "cpu",
) -> np.ndarray:
    """Decodes the frames at ``indices`` (any order, repeats allowed), as a player shows them.

    Args:
        path: Video file.
        indices: int array of frame numbers in ``[0, info.num_frames)``, any shape.
        size: Displayed (height, width) to resize to inside the decoder; ``None`` keeps the
            displayed size.
        backend: ``"decord"``, ``"pyav"`` or ``"torchcodec"`` (optional extra).
        fallback: With decord or torchcodec, decode with PyAV when it fails or disagrees with the probe.
        num_threads: Decoder threads (0 = the library's choice). Use 1 inside DataLoader
            workers so workers do not compete for cores. PyAV uses them for slices only.
        info: The file's :func:`probe_video` result, if the caller has it (saves a probe).
        device: torchcodec's decoding device: ``"cpu"`` or ``"cuda"`` / ``"cuda:N"`` (NVDEC; the
            frames are resized on the GPU and copied back to host memory).

    Returns:
        uint8 array ``indices.shape + (H, W, 3)``, RGB.

    Raises:
        VideoDecodeError: If a frame asked for does not exist or no backend could decode it.
        ConfigError: If torchcodec is asked for and cannot be used here.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if device != "cpu" and backend != "torchcodec":
        raise ValueError(f"decoding device {device!r} needs backend torchcodec, got {backend!r}")
    if backend == "torchcodec":
        _torchcodec()  # a missing optional package is the user's to fix, not a reason to fall back
    indices = np.asarray(indices, dtype=np.int64)
    if indices.size == 0 or indices.min() < 0:
        raise ValueError(f"frame indices must be a non-empty set of non-negative numbers, got {indices}")
    info = probe_video(path) if info is None else info
    flat = indices.reshape(-1)
    if flat.max() >= info.num_frames:
        raise VideoDecodeError(path, f"frame {flat.max()} does not exist: the video has {info.num_frames} frames")
    attempts = [backend] + (["pyav"] if backend in FAST_BACKENDS and fallback else [])
    reasons = []
    for name in attempts:
        try:
            if name == "torchcodec":
                frames = _decode_torchcodec(str(path), flat, size, num_threads, info, device)
            else:
                decode = _decode_decord if name == "decord" else _decode_pyav
                frames = decode(str(path), flat, size, num_threads, info)
        except VideoDecodeError as error:
            reasons.append(f"{name}: {error.reason}")
        except _Disagreement as error:
            reasons.append(f"{name}: {error}")
        except Exception as error:  # decord raises RuntimeError/DECORDError, torchcodec RuntimeError, PyAV many types
            reasons.append(f"{name}: {one_line(error, with_type=True)}")
        else:
            if reasons:
                log.debug("%s: decoded with %s after %s", path, name, "; ".join(reasons))
            return frames.reshape(indices.shape + frames.shape[1:])
    raise VideoDecodeError(path, "; ".join(reasons))
