"""``ClipSpec``: what a clip is and how a video becomes views, in one place.

Every setting that decides which frames and pixels a model sees lives here, with its default and
its check: the data module builds one from its config keys (the same names), both datasets and the
inference commands take one, and every checkpoint saves it (``checkpoint["a2video"]["clip"]``), so
``predict``, ``features`` and ``explain`` on a checkpoint sample exactly as ``test`` did.

``protocol`` names a peer's evaluation protocol as a whole (:mod:`a2video.data.protocols`: clip
placement, frames inside a clip, short videos, resize and crop rounding). ``test_clip_placement``
and ``short_video`` refine the ``a2video`` protocol; left at ``None`` they take the protocol's own
rule, and a protocol that fixes them refuses another value, so half of one protocol cannot be mixed
with half of another.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

from a2video.data.sampling import CLIP_PLACEMENTS as PLACEMENTS
from a2video.data.sampling import ClipPlacement as Placement

Protocol = Literal["a2video", "slowfast", "slowfast-decode-all", "pytorchvideo", "pytorchvideo-0.1.5", "mmaction2"]
PROTOCOLS: tuple[str, ...] = ("a2video", "slowfast", "slowfast-decode-all", "pytorchvideo", "pytorchvideo-0.1.5",
                              "mmaction2")
# Placements that only imitated a peer's clip starts; the peer's protocol gives its exact frames.
RETIRED_PLACEMENTS = {"slowfast": "slowfast", "pytorchvideo": "pytorchvideo-0.1.5"}
ShortVideo = Literal["clamp", "loop", "repeat_last"]
SHORT_VIDEOS: tuple[str, ...] = ("clamp", "loop", "repeat_last")
SHORT_VIDEO_RULES: dict[str, tuple[str, ...]] = {"a2video": ("clamp", "loop"), "mmaction2": ("loop", "repeat_last")}
DEFAULT_SHORT_VIDEO = {"a2video": "clamp", "mmaction2": "loop"}


class ClipSpecError(ValueError):
    """Clip settings that contradict each other or are out of range."""


@dataclass(frozen=True)
class ClipSpec:
    """The clip and its views.

    Attributes:
        num_frames: Frames per clip (T).
        sampling_rate: Step between a clip's frames, counted in frames of the file, or of the
            ``target_fps`` timeline.
        target_fps: Sample on a timeline at this rate from the stream's own timestamps (PySlowFast
            and pytorchvideo use 30); ``None`` counts the file's frames.
        short_video: Videos shorter than a clip: ``clamp`` repeats the last frame, ``loop`` plays
            the video again, ``repeat_last`` (mmaction2) repeats the last frame the clip sampled;
            ``None`` is the protocol's rule.
        train_scale_range: Random short side (inclusive range) before the training crop.
        crop_size: Training crop side.
        test_short_side: Short side of validation and test views.
        test_crop_size: Crop side of validation and test views; ``None`` is ``test_short_side``.
        test_clips: Clips per video at test time.
        test_crops: Crops per clip at test time (1 or 3).
        test_clip_placement: Where the ``a2video`` protocol's test clips start (formulas in
            :mod:`a2video.data.sampling`); ``None`` is ``even``.
        val_clips: Clips per video during validation.
        val_crops: Crops per clip during validation (1 or 3).
        protocol: Whose protocol makes the test views, and the training clips where that peer
            trains otherwise than by a stride (slowfast, pytorchvideo: :mod:`a2video.data.protocols`).
        twice_sample: mmaction2's ``twice_sample``: twice the test clips, spaced as mmaction2 1.x does (mmaction2 only).
    """

    num_frames: int = 8
    sampling_rate: int = 8
    target_fps: float | None = None
    short_video: ShortVideo | None = None
    train_scale_range: tuple[int, int] = (256, 320)
    crop_size: int = 224
    test_short_side: int = 256
    test_crop_size: int | None = None
    test_clips: int = 10
    test_crops: int = 3
    test_clip_placement: Placement | None = None
    val_clips: int = 1
    val_crops: int = 1
    protocol: Protocol = "a2video"
    twice_sample: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "train_scale_range", tuple(self.train_scale_range))
        problems = []
        if min(self.num_frames, self.sampling_rate, self.test_clips, self.val_clips) < 1:
            problems.append("num_frames, sampling_rate, test_clips and val_clips must be >= 1")
        if self.target_fps is not None and not self.target_fps > 0:
            problems.append(f"target_fps must be > 0 or null, got {self.target_fps}")
        low_high = self.train_scale_range
        if len(low_high) != 2 or low_high[0] > low_high[1]:
            problems.append(f"train_scale_range must be [low, high] with low <= high, got {list(low_high)}")
        elif not 0 < self.crop_size <= low_high[0]:
            problems.append(f"crop_size {self.crop_size} is larger than the smallest training short side "
                            f"{low_high[0]} (train_scale_range)")
        if self.test_crop_size is not None and not 0 < self.test_crop_size <= self.test_short_side:
            problems.append(f"test_crop_size {self.test_crop_size} is larger than test_short_side "
                            f"{self.test_short_side}")
        if self.test_crops not in (1, 3) or self.val_crops not in (1, 3):
            problems.append(f"test_crops and val_crops must be 1 or 3, got {self.test_crops} and {self.val_crops}")
        if self.protocol not in PROTOCOLS:
            problems.append(f"protocol must be one of {', '.join(PROTOCOLS)}, got {self.protocol!r}")
        else:
            problems += self._protocol_problems()
        if problems:
            raise ClipSpecError("; ".join(problems))

    def _protocol_problems(self) -> list[str]:
        problems = []
        placement, short = self.test_clip_placement, self.short_video
        if placement in RETIRED_PLACEMENTS:
            problems.append(f"test_clip_placement {placement!r} copied only the peer's clip starts, not its frames: "
                            f"set protocol: {RETIRED_PLACEMENTS[placement]} instead (and leave test_clip_placement out)")
        elif placement is not None and placement not in PLACEMENTS:
            problems.append(f"test_clip_placement must be one of {', '.join(PLACEMENTS)}, got {placement!r}")
        elif placement is not None and self.protocol != "a2video":
            problems.append(f"protocol {self.protocol} places its clips itself: leave test_clip_placement out "
                            f"(it is {placement!r}), or use protocol a2video")
        allowed = SHORT_VIDEO_RULES.get(self.protocol, ())
        if short is not None and short not in allowed:
            problems.append(f"short_video {short!r} does not exist in protocol {self.protocol}"
                            + (f" (choose {' or '.join(allowed)})" if allowed else ": it fills short videos itself"))
        if self.twice_sample and self.protocol != "mmaction2":
            problems.append("twice_sample is mmaction2's option: use it with protocol mmaction2")
        elif self.twice_sample and self.test_clips < 2 and self.num_frames > 1:
            problems.append("twice_sample needs test_clips >= 2 (mmaction2 spaces the clips by 1/(test_clips - 1))")
        return problems

    @property
    def span(self) -> int:
        """Timeline frames from a stride clip's first frame to its last, both included."""
        return (self.num_frames - 1) * self.sampling_rate + 1

    @property
    def eval_crop_size(self) -> int:
        """Side of the validation and test crops."""
        return self.test_crop_size or self.test_short_side

    @property
    def placement(self) -> str:
        """The ``a2video`` protocol's clip placement (``even`` unless set)."""
        return self.test_clip_placement or "even"

    @property
    def short_video_rule(self) -> str:
        """How this protocol fills short videos (``clamp`` for protocols that clamp by themselves)."""
        return self.short_video or DEFAULT_SHORT_VIDEO.get(self.protocol, "clamp")

    @property
    def train_short_video(self) -> str:
        """The rule for training clips (which have no ``repeat_last``: it then clamps)."""
        rule = self.short_video_rule
        return rule if rule in ("clamp", "loop") else "clamp"

    def views(self, stage: str) -> tuple[int, int]:
        """(clips, crops) per video for ``val`` or ``test`` (mmaction2's ``twice_sample`` doubles the test clips)."""
        if stage in ("val", "validate"):
            return self.val_clips, self.val_crops
        return (self.test_clips * 2 if self.twice_sample else self.test_clips), self.test_crops

    def with_values(self, **changes: Any) -> ClipSpec:
        """A copy with some settings changed (``None`` values are ignored); checked again."""
        return replace(self, **{key: value for key, value in changes.items() if value is not None})

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON values."""
        values = asdict(self)
        values["train_scale_range"] = list(self.train_scale_range)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ClipSpec:
        """Inverse of :meth:`to_dict`; unknown keys (written by later versions) are ignored."""
        known = {field.name for field in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})

    def describe(self) -> str:
        """One line: '8×8 frames at 30 fps, test 10 clips × 3 crops of 256 (protocol slowfast)'."""
        rate = f" at {self.target_fps:g} fps" if self.target_fps else ""
        return (f"{self.num_frames}×{self.sampling_rate} frames{rate}, test {self.test_clips} clips × "
                f"{self.test_crops} crops of {self.eval_crop_size} at short side {self.test_short_side} "
                f"(protocol {self.protocol})")


CLIP_FIELDS: tuple[str, ...] = tuple(field.name for field in fields(ClipSpec))
DEFAULT_CLIP = ClipSpec()
