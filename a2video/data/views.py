"""Which frames and crops make each test view of a video, written out for people to compare.

``a2video views`` prints this (:mod:`a2video.commands.views`): the frame numbers, their times and
pts, the resized size and the crop offsets that :class:`~a2video.data.datasets.EvalVideoDataset`
uses, so a user can set them beside the indices a peer's loader picks (PySlowFast's
``temporal_sampling``, pytorchvideo's ``get_clip``, mmaction2's ``frame_inds``) for the same file.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

from a2video.data.clips import ClipSpec
from a2video.data.datasets import eval_transform
from a2video.data.decoding import probe_video
from a2video.data.protocols import SLOWFAST, eval_clip_indices, slowfast_decodes_all, stream_header
from a2video.data.transforms import crop_offsets, short_side_size


@dataclass(frozen=True)
class VideoViews:
    """The test views of one video.

    Attributes:
        path: The video file.
        protocol: The protocol that placed them.
        frames_shown: Frames a player shows (what the frame numbers count).
        header_frames: The header's frame count (0: not given).
        header_duration_s: The header's duration in seconds (None: not given).
        fps: The stream's average rate.
        decoding: ``selective`` or ``all`` (PySlowFast's reader), else ``-``.
        frames: (clips, T) frame numbers, 0 = the first frame shown.
        times_s: (clips, T) their presentation times in seconds from the first frame.
        pts: (clips, T) their presentation timestamps in the stream's ticks.
        time_base: Seconds per tick, as (numerator, denominator).
        decoded_size: (height, width) the decoder outputs (displayed, rotation applied).
        resized_size: (height, width) after the protocol's short-side resize.
        crops: (top, left) of each crop in the resized frames, in view order within a clip.
        crop_size: Side of the square crops.
    """

    path: str
    protocol: str
    frames_shown: int
    header_frames: int
    header_duration_s: float | None
    fps: float
    decoding: str
    frames: list[list[int]]
    times_s: list[list[float]]
    pts: list[list[int]]
    time_base: tuple[int, int]
    decoded_size: tuple[int, int]
    resized_size: tuple[int, int]
    crops: list[tuple[int, int]]
    crop_size: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """A readable account: one header line, one line per clip, the crops."""
        duration = "none" if self.header_duration_s is None else f"{self.header_duration_s:.3f} s"
        head = (f"{self.path}: {self.frames_shown} frames shown at {self.fps:.4g} fps; header {self.header_frames} "
                f"frames, duration {duration}; protocol {self.protocol}"
                + (f" ({self.decoding} decoding)" if self.decoding != "-" else ""))
        clips = [f"  clip {k}: frames {' '.join(map(str, row))}  ({times[0]:.3f}-{times[-1]:.3f} s)"
                 for k, (row, times) in enumerate(zip(self.frames, self.times_s))]
        size = f"{self.decoded_size[0]}x{self.decoded_size[1]} -> {self.resized_size[0]}x{self.resized_size[1]}"
        crops = ", ".join(f"({top}, {left})" for top, left in self.crops)
        return [head, *clips, f"  resize {size}; {len(self.crops)} crop(s) of {self.crop_size} at (top, left) {crops}"]


def describe_test_views(path: str | os.PathLike, clip: ClipSpec) -> VideoViews:
    """The test views ``clip`` makes of the video at ``path``.

    Raises:
        VideoDecodeError: The file cannot be probed.
    """
    info = probe_video(path)
    num_clips, num_crops = clip.views("test")
    indices = eval_clip_indices(clip, info, num_clips)  # (K, T)
    header, pts = stream_header(info)
    numerator, denominator = header.time_base
    transform = eval_transform(clip, num_crops)
    resized = short_side_size(info.height, info.width, transform.short_side, transform.rounding)
    decoding = "-"
    if clip.protocol in SLOWFAST:
        decoding = "all" if slowfast_decodes_all(clip.protocol, header) else "selective"
    return VideoViews(
        path=str(path), protocol=clip.protocol, frames_shown=info.num_frames, header_frames=header.frames,
        header_duration_s=None if header.duration is None else header.duration * numerator / denominator,
        fps=info.fps, decoding=decoding, frames=indices.tolist(),
        times_s=[[round(float(t), 6) for t in row] for row in info.timestamps[indices]],
        pts=pts[indices].tolist(), time_base=(numerator, denominator), decoded_size=(info.height, info.width),
        resized_size=resized,
        crops=crop_offsets(*resized, transform.crop_size, num_crops, transform.crop_style),
        crop_size=transform.crop_size,
    )
