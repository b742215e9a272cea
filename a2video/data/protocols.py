"""The peers' evaluation protocols, frame for frame: which frames and pixels make each test view.

A protocol (``ClipSpec.protocol``) fixes four things together (docs/RECIPES.md has the table):

- ``a2video``: clips of ``num_frames`` frames every ``sampling_rate`` frames (``(T-1)·s+1``
  frames of the timeline), placed by ``test_clip_placement`` (:func:`a2video.data.sampling.clip_starts`),
  short videos clamped or looped; resize rounds the long side (antialiased, in the decoder); crops:
  centre ``floor``, the three crops in the order start, centre, end.
- ``slowfast``: PySlowFast's ``decoder.py`` with PyAV (its default then), as it was before the
  2022 multi-clip rework, in the years its model zoo was published (on the main branch since,
  the PyAV path fails, facebookresearch/SlowFast#563, and the default backend is torchvision's).
  A clip spans ``clip_size = sampling_rate · num_frames / target_fps · fps`` frames (fps: the
  header's average rate); clip k of K starts at ``Δ·k/K``, ``Δ = max(frames − clip_size, 0)``,
  with ``frames`` the *header's* count. Start and end become pts with the header's ticks per
  frame (``duration / frames``, truncated); the frames whose pts lie between them, and the first
  one after, are decoded, and ``torch.linspace(0, clip_size − 1, T)`` (float32, clamped,
  truncated) picks among those. Header and pts come from the file as PyAV reports them
  (:class:`~a2video.data.decoding.StreamHeader`), so an edit list the header counts, a variable
  rate or a start offset move the frames as there. A header without a duration (MKV, WebM) or
  a frame count makes it ``slowfast-decode-all``.
- ``slowfast-decode-all``: PySlowFast's reader where it decodes every frame: the clip placed on
  the frames that exist, ``torch.linspace(start, start + clip_size − 1, T)``. Both: resize
  floors the long side (bilinear, no antialiasing, from the decoded size: ``resize_short_side``);
  crops: centre ``ceil((side − size) / 2)``, three crops left, centre, right.
- ``pytorchvideo`` (main branch since 2022) and ``pytorchvideo-0.1.5``, as PySlowFast's
  pytorchvideo datasets use them (video only, ``T · s / target_fps`` seconds): in pytorchvideo's
  exact fractions (:class:`PytorchvideoReader`), clip k starts at ``Δ·k/(K−1)`` (main) or
  ``Δ·k/K`` (0.1.5) seconds, ``Δ = max(duration − clip duration, 0)`` with the header's duration
  (the last frame's time where it has none), and takes the frames whose pts lie in ``[start,
  end)``; ``UniformTemporalSubsample`` picks T of them with ``linspace(0, t − 1, T)``, over the
  whole video when it is shorter than a clip. Resize and crops as SlowFast's.
- ``mmaction2`` (1.x ``SampleFrames(test_mode=True)``, file frames): the ``even`` placement with
  ``Δ = frames − ((T−1)·s+1)``; a video shorter than a clip starts every clip at 0 and
  ``out_of_bound_opt`` ``loop`` (default) wraps the indices, ``repeat_last`` repeats the last
  in-range sampled index; ``twice_sample`` makes 2K clips with mmaction2's spacing ``Δ/(K−1)``;
  ``target_fps`` scales the clip to ``T·s·fps/target_fps`` file frames (its ``linspace``)
  instead of resampling the video. Resize rounds half up
  (``int(x + 0.5)``), bilinear without antialiasing (cv2's ``INTER_LINEAR``); ``CenterCrop`` floors; ``ThreeCrop`` puts its crops at ``0``, ``2·w_step``,
  ``w_step`` (``w_step = (w − size) // 2``) in the order left, right, centre.

All functions return frame numbers of the file (what :func:`a2video.data.decoding.read_frames`
takes). Training clips (:func:`train_clip_indices`) follow the protocol too where the peer
trains differently from a stride: the PySlowFast and pytorchvideo ones draw the clip's start at
random and read it as at test, so training and test clips span the same time.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import torch

from a2video.data.clips import ClipSpec
from a2video.data.decoding import StreamHeader, VideoInfo
from a2video.data.sampling import random_clip_indices, resample_to_fps, uniform_clip_indices

# protocol → (crop style, resize rounding, resize filter); "antialias" lets the decoder resize.
PIXEL_RULES: dict[str, tuple[str, str, str]] = {
    "a2video": ("a2video", "round", "antialias"),
    "slowfast": ("ceil", "floor", "bilinear"),
    "slowfast-decode-all": ("ceil", "floor", "bilinear"),
    "pytorchvideo": ("ceil", "floor", "bilinear"),
    "pytorchvideo-0.1.5": ("ceil", "floor", "bilinear"),
    "mmaction2": ("mmaction2", "half_up", "bilinear"),
}


def timeline(info: VideoInfo, target_fps: float | None) -> np.ndarray:
    """Frame numbers the stride samplers count: every frame, or those nearest a ``target_fps`` grid."""
    if target_fps is None:
        return np.arange(info.num_frames)
    return resample_to_fps(info.timestamps, target_fps)


def eval_clip_indices(spec: ClipSpec, info: VideoInfo, num_clips: int, *, stage: str = "test") -> np.ndarray:
    """File frame numbers (K, T) of the ``num_clips`` evaluation clips of a video under ``spec.protocol``.

    ``stage="val"``: PySlowFast and pytorchvideo validate on one random clip; ours ranks the
    ``best`` checkpoint, so it is deterministic: the peer's clips at even starts (one clip: the
    centre one, as mmaction2's and a2video's), read as the peer reads them.
    """
    protocol = spec.protocol
    if protocol in SLOWFAST or protocol in PYTORCHVIDEO:
        reader = SlowFastReader(spec, info) if protocol in SLOWFAST else PytorchvideoReader(spec, info)
        largest = reader.largest_start()  # frames (PySlowFast) or an exact Fraction of seconds (pytorchvideo)
        if stage in ("val", "validate"):
            starts = _even_starts(largest, num_clips)
        else:  # the peer's test starts: Δ·k/K (PySlowFast, pytorchvideo 0.1.5), Δ·k/(K−1) (pytorchvideo main)
            divisor = max(num_clips - 1, 1) if protocol == "pytorchvideo" else num_clips
            starts = [largest * k / divisor for k in range(num_clips)]
        return np.stack([reader.clip(start) for start in starts])
    if protocol == "mmaction2":  # file frames: mmaction2 scales the clip instead of resampling the video
        base_clips = num_clips // 2 if spec.twice_sample else num_clips
        return mmaction2_clip_indices(info.num_frames, spec.num_frames, spec.sampling_rate, base_clips,
                                      spec.short_video_rule, twice_sample=spec.twice_sample, fps=info.fps,
                                      target_fps=spec.target_fps)
    frames = timeline(info, spec.target_fps)  # (N,) file frame per timeline frame
    clips = uniform_clip_indices(frames.size, spec.num_frames, spec.sampling_rate, num_clips,
                                 spec.short_video_rule, spec.placement)
    return frames[clips]


def train_clip_indices(spec: ClipSpec, info: VideoInfo, rng: np.random.Generator) -> np.ndarray:
    """File frame numbers (T,) of one random training clip under ``spec.protocol``.

    The PySlowFast and pytorchvideo protocols train as those do, so that a model sees the same
    span of time in training and at test: PySlowFast draws the start uniformly in ``[0, Δ]``
    frames (``clip_idx = -1``), pytorchvideo's ``RandomClipSampler`` in ``[0, Δ]`` seconds, and
    both read that clip as at test. The others take every s-th frame of the timeline from a random
    frame (:func:`a2video.data.sampling.random_clip_indices`), as mmaction2's ``SampleFrames`` does.
    """
    if spec.protocol in SLOWFAST:
        reader = SlowFastReader(spec, info)
        return reader.clip(rng.uniform(0, reader.largest_start()))
    if spec.protocol in PYTORCHVIDEO:
        reader = PytorchvideoReader(spec, info)
        return reader.clip(Fraction(rng.uniform(0, reader.largest_start())))
    frames = timeline(info, spec.target_fps)
    return frames[random_clip_indices(frames.size, spec.num_frames, spec.sampling_rate, rng, spec.train_short_video)]


def _even_starts(largest: float | Fraction, num_clips: int) -> list:
    """Starts from 0 to ``largest`` in equal steps; one clip starts at ``largest / 2`` (the centre)."""
    if num_clips == 1:
        return [largest / 2]
    return [largest * k / (num_clips - 1) for k in range(num_clips)]


def _linspace_floor(start: float, end: float, count: int, last: int) -> np.ndarray:
    """``torch.linspace(start, end, count)`` (float32) clamped to ``[0, last]`` and truncated, as the peers do."""
    index = torch.clamp(torch.linspace(start, end, count), 0, last).long()
    return index.numpy().astype(np.int64)


class SlowFastReader:
    """PySlowFast's ``decoder.py`` with PyAV: which frames make the clip that starts at a frame.

    A clip spans ``clip_size = T · s / target_fps · fps`` frames (fps: the header's average rate).
    Selective decoding (a header with a duration and a frame count) places the clip on the
    header's count, turns start and end into pts with the header's ticks per frame (``duration /
    frames``, truncated), keeps the frames whose pts lie between them and the first one after,
    and samples ``linspace(0, clip_size − 1, T)`` among those. Where the header is wrong (an MP4
    edit list hides frames it counts, a variable rate, a start offset), these are other frames
    than the counts alone would give, as there. Otherwise (``slowfast-decode-all``, or a header
    without a duration, MKV and WebM, or without a frame count, where PySlowFast's reader would
    divide by zero) every frame is decoded and the clip is ``linspace(start, start + clip_size −
    1, T)`` over them.
    """

    def __init__(self, spec: ClipSpec, info: VideoInfo) -> None:
        self.header, self.pts = stream_header(info)
        fps = self.header.average_rate or info.fps or 30.0
        self.clip_size = spec.sampling_rate * spec.num_frames / (spec.target_fps or fps) * fps
        self.num_frames = spec.num_frames
        self.decode_all = slowfast_decodes_all(spec.protocol, self.header)
        self.size = info.num_frames if self.decode_all else self.header.frames  # what get_start_end_idx counts

    def largest_start(self) -> float:
        """Δ: the latest first frame of a clip (0 for a video shorter than a clip)."""
        return max(self.size - self.clip_size, 0)

    def clip(self, start: float) -> np.ndarray:
        """File frames (T,) of the clip whose first frame is at ``start`` (a float frame number)."""
        end = start + self.clip_size - 1
        if self.decode_all:
            return _linspace_floor(start, end, self.num_frames, self.pts.size - 1)
        ticks_per_frame = self.header.duration / self.header.frames
        start_pts, end_pts = int(start * ticks_per_frame), int(end * ticks_per_frame)
        first = int(np.searchsorted(self.pts, start_pts, side="left"))
        if first >= self.pts.size:  # PySlowFast gets no frame and gives up on the video; show the last
            first = self.pts.size - 1
        last = min(int(np.searchsorted(self.pts, end_pts, side="right")), self.pts.size - 1)  # one past the end
        return first + _linspace_floor(0, self.clip_size - 1, self.num_frames, last - first)


def slowfast_decodes_all(protocol: str, header: StreamHeader) -> bool:
    """Whether PySlowFast's reader decodes every frame: ``slowfast-decode-all``, or a header
    without a duration (MKV, WebM) or a frame count (its selective path would divide by zero)."""
    return protocol == "slowfast-decode-all" or header.duration is None or header.frames <= 0


class PytorchvideoReader:
    """pytorchvideo's ``EncodedVideoPyAV.get_clip`` and ``UniformTemporalSubsample``, in its
    exact fractions, for the clip that starts at a time.

    The clip lasts ``Fraction`` of the float ``T · s / target_fps`` (as PySlowFast's pytorchvideo
    datasets and the samplers keep it: 0.4 s is a hair over, a frame at 0.4 s is in); the video's
    duration is the header's (``duration − start_time`` ticks; without one, the last frame's pts
    less ``start_time``); a clip takes the frames with ``ceil(start / time base) ≤ pts −
    start_time < ceil(end / time base)`` and ``linspace(0, t − 1, T)`` of them.
    """

    def __init__(self, spec: ClipSpec, info: VideoInfo) -> None:
        self.header, self.pts = stream_header(info)
        self.clip_duration = Fraction(spec.num_frames * spec.sampling_rate / (
            spec.target_fps or self.header.average_rate or info.fps))
        self.num_frames = spec.num_frames
        self.time_base = Fraction(*self.header.time_base)
        self.origin = self.header.start_time if self.header.start_time is not None else 0
        duration = self.header.duration if self.header.duration is not None else int(self.pts[-1])
        self.duration = int(duration - self.origin) * self.time_base

    def largest_start(self) -> Fraction:
        """The latest start of a clip, in seconds (0 for a video shorter than a clip)."""
        return Fraction(max(self.duration - self.clip_duration, 0))

    def clip(self, start: Fraction) -> np.ndarray:
        """File frames (T,) of the clip that starts ``start`` seconds after the stream's start time."""
        end = start + self.clip_duration
        low = math.ceil(start / self.time_base) + self.origin
        high = math.ceil(end / self.time_base) + self.origin
        inside = np.flatnonzero((self.pts >= low) & (self.pts < high))
        if inside.size == 0:  # pytorchvideo has no clip there and leaves it out; show the nearest frame
            inside = np.array([min(int(np.searchsorted(self.pts, low)), self.pts.size - 1)])
        return inside[_linspace_floor(0, inside.size - 1, self.num_frames, inside.size - 1)]


SLOWFAST = ("slowfast", "slowfast-decode-all")
PYTORCHVIDEO = ("pytorchvideo", "pytorchvideo-0.1.5")


def stream_header(info: VideoInfo) -> tuple[StreamHeader, np.ndarray]:
    """The stream's header and each frame's pts (ticks), what the peers' PyAV readers work from.

    A stream described by hand (no probe: tests, a frame count and a rate) gets a muxer's
    header: the MPEG 90 kHz clock, its frames ``round(90000 / fps)`` ticks apart from 0.
    """
    if info.header is not None:
        return info.header, info.frame_pts()
    fps = info.fps or 30.0
    pts = np.round(info.timestamps * 90_000).astype(np.int64)
    header = StreamHeader(frames=info.num_frames, duration=info.num_frames * round(90_000 / fps),
                          time_base=(1, 90_000), average_rate=fps, first_pts=0, start_time=0)
    return header, pts


def mmaction2_clip_indices(video_frames: int, num_frames: int, stride: int, num_clips: int,
                           out_of_bound: str, *, twice_sample: bool = False, fps: float | None = None,
                           target_fps: float | None = None) -> np.ndarray:
    """mmaction2's ``SampleFrames(test_mode=True)`` frame indices (K, T) (``num_clips`` before doubling).

    As in mmaction2 1.x since ``target_fps`` was added: ``twice_sample`` makes ``2K`` clips spaced by
    ``Δ/(K−1)`` (the second half runs past ``Δ`` and wraps or repeats), ``T == 1`` is its 2D path
    (segment centres, and with ``twice_sample`` the segment starts after them), and ``target_fps``
    makes a clip span ``T·s·fps/target_fps`` file frames sampled with ``linspace``, its starts
    ``floor(Δ/(K−1))·k``. Offsets stay floats until the end, as there, where they are truncated.
    """
    clips = num_clips * 2 if twice_sample else num_clips
    resample = bool(target_fps) and bool(fps)
    if resample:
        clip_length = max(1.0, num_frames * stride * fps / target_fps)
    else:
        clip_length = (num_frames - 1) * stride + 1
    if num_frames == 1:  # mmaction2's 2D recognizer branch
        interval = video_frames / float(num_clips)
        base = np.arange(num_clips) * interval
        offsets = base + interval / 2.0
        if twice_sample:
            offsets = np.concatenate([offsets, base])
    else:
        max_offset = max(video_frames - clip_length, 0)
        if clips > 1:
            segments = num_clips - 1  # not clips - 1: mmaction2 divides by the clips before doubling
            if segments == 0:
                raise ValueError("mmaction2's twice_sample with one clip divides by zero: use 2 or more clips")
            if resample:
                offsets = np.arange(clips) * np.floor(max_offset / float(segments))
            else:
                offsets = np.round(np.arange(clips) * (max_offset / float(segments)))
        else:
            offsets = np.array([max_offset // 2])
    if resample:
        steps = np.linspace(0, clip_length - 1, num_frames).astype(np.int32)
    else:
        steps = np.arange(num_frames) * stride
    indices = offsets[:, None] + steps[None, :]  # (K, T), floats where the offsets are
    if out_of_bound == "loop":
        indices = np.mod(indices, video_frames)
    elif out_of_bound == "repeat_last":
        inside = indices < video_frames
        last = np.max(inside * indices, axis=1, keepdims=True)
        indices = np.where(inside, indices, last)
    else:
        raise ValueError(f"mmaction2's out_of_bound_opt is loop or repeat_last, got {out_of_bound!r}")
    return indices.astype(np.int32).astype(np.int64)


def resize_rounding(protocol: str) -> str:
    """How the protocol rounds the long side after scaling the short side (``round``, ``floor``, ``half_up``)."""
    return PIXEL_RULES[protocol][1]


def resize_filter(protocol: str) -> str:
    """How the protocol resizes: ``antialias`` (a2video, in the decoder) or ``bilinear`` (the peers'
    ``interpolate`` without antialiasing, after decoding at the file's size)."""
    return PIXEL_RULES[protocol][2]


def crop_style(protocol: str) -> str:
    """Where the protocol puts its test crops (:func:`a2video.data.transforms.crop_offsets`)."""
    return PIXEL_RULES[protocol][0]
