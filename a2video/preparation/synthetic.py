"""A synthetic action dataset whose classes can only be told apart by motion.

Classes come in pairs whose videos are each other's time reversal (moving right /
moving left, clockwise / counter-clockwise, growing / shrinking, ...). A clip of
the second class is rendered exactly like one of the first and then played
backwards, so both classes show the same frames and only their order differs.
Shapes, colours, backgrounds, noise, sizes and start positions are random.

Train on it without horizontal flips (``VideoDataModule(horizontal_flip=False)``): a
mirrored clip of ``move_right`` or ``rotate_clockwise`` shows the other class's motion.

Two disjoint class sets: ``source`` (10 classes, for pre-training) and ``target``
(8 classes, for fine-tuning). Files are small H.264 mp4s in the same layout as
the real datasets::

    DIR/<set>/videos/<class>/<class>_0000.mp4
    DIR/<set>/{train,val,test}.txt   (paths relative to videos/)
    DIR/<set>/classes.txt
    DIR/<set>/synth.json             (parameters; written last, marks the set complete)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from a2video.cores import usable_cores
from a2video.data.encoding import write_video
from a2video.data.lists import write_classes, write_list
from a2video.errors import A2VideoError, ConfigError
from a2video.files import atomic_write_text

State = dict[str, np.ndarray]
"""Per-frame shape state, each value (F,): cx, cy (centre, 0..1), radius, angle, alpha, aspect."""

SUPERSAMPLE = 2  # render at 2x and average, which smooths edges before H.264 sees them


def _travel(rng: np.random.Generator, radius: float, dx: float, dy: float) -> tuple[np.ndarray, np.ndarray]:
    """Start and end centre of a straight move by (dx, dy), both inside the frame."""
    low = np.array([radius - min(dx, 0), radius - min(dy, 0)])
    high = np.array([1 - radius - max(dx, 0), 1 - radius - max(dy, 0)])
    start = rng.uniform(low, high)
    return start, start + np.array([dx, dy])


def _linear_move(direction: tuple[float, float]) -> Callable[[np.random.Generator, np.ndarray], State]:
    def motion(rng: np.random.Generator, t: np.ndarray) -> State:
        radius = rng.uniform(0.1, 0.16)
        distance = rng.uniform(0.3, 0.5)
        start, end = _travel(rng, radius, direction[0] * distance, direction[1] * distance)
        centre = start[None, :] + t[:, None] * (end - start)[None, :]  # (F, 2)
        return {"cx": centre[:, 0], "cy": centre[:, 1], "radius": np.full_like(t, radius)}

    return motion


def _rotate(rng: np.random.Generator, t: np.ndarray) -> State:
    # Angles grow clockwise on screen because image y points down.
    radius = rng.uniform(0.18, 0.26)
    centre = rng.uniform(radius, 1 - radius, size=2)
    start = rng.uniform(0, 2 * np.pi)
    return {
        "cx": np.full_like(t, centre[0]),
        "cy": np.full_like(t, centre[1]),
        "radius": np.full_like(t, radius),
        "angle": start + t * rng.uniform(0.5 * np.pi, np.pi),
    }


def _grow(rng: np.random.Generator, t: np.ndarray) -> State:
    small, large = rng.uniform(0.07, 0.11), rng.uniform(0.2, 0.28)
    centre = rng.uniform(large, 1 - large, size=2)
    return {"cx": np.full_like(t, centre[0]), "cy": np.full_like(t, centre[1]), "radius": small + t * (large - small)}


def _orbit(rng: np.random.Generator, t: np.ndarray) -> State:
    radius, orbit = rng.uniform(0.1, 0.14), rng.uniform(0.15, 0.22)
    middle = rng.uniform(radius + orbit, 1 - radius - orbit, size=2)
    phase = rng.uniform(0, 2 * np.pi) + t * rng.uniform(np.pi, 1.5 * np.pi)
    return {"cx": middle[0] + orbit * np.cos(phase), "cy": middle[1] + orbit * np.sin(phase), "radius": np.full_like(t, radius)}


def _fade_in(rng: np.random.Generator, t: np.ndarray) -> State:
    radius = rng.uniform(0.14, 0.22)
    centre = rng.uniform(radius, 1 - radius, size=2)
    return {
        "cx": np.full_like(t, centre[0]),
        "cy": np.full_like(t, centre[1]),
        "radius": np.full_like(t, radius),
        "alpha": rng.uniform(0.0, 0.2) + t * rng.uniform(0.7, 0.8),
    }


def _widen(rng: np.random.Generator, t: np.ndarray) -> State:
    # The stretch axis is always horizontal: at a random angle, "narrow" would be "widen" turned
    # by 90 degrees for the symmetric shapes, and the pair could not be told apart.
    radius = rng.uniform(0.12, 0.16)
    centre = rng.uniform(2 * radius, 1 - 2 * radius, size=2)
    return {
        "cx": np.full_like(t, centre[0]),
        "cy": np.full_like(t, centre[1]),
        "radius": np.full_like(t, radius),
        "angle": np.zeros_like(t),
        "aspect": np.exp(np.log(rng.uniform(0.45, 0.6)) + t * np.log(rng.uniform(3.0, 4.0))),
    }


# (class played forwards, class played backwards, motion). Image y points down.
MOTION_PAIRS: dict[str, list[tuple[str, str, Callable[[np.random.Generator, np.ndarray], State]]]] = {
    "source": [
        ("move_right", "move_left", _linear_move((1, 0))),
        ("move_down", "move_up", _linear_move((0, 1))),
        ("diagonal_down_right", "diagonal_up_left", _linear_move((0.7071, 0.7071))),
        ("rotate_clockwise", "rotate_counterclockwise", _rotate),
        ("grow", "shrink", _grow),
    ],
    "target": [
        ("diagonal_down_left", "diagonal_up_right", _linear_move((-0.7071, 0.7071))),
        ("orbit_clockwise", "orbit_counterclockwise", _orbit),
        ("fade_in", "fade_out", _fade_in),
        ("widen", "narrow", _widen),
    ],
}


def class_names(set_name: str) -> list[str]:
    """Class names of a set (``"source"`` or ``"target"``), sorted (label order)."""
    if set_name not in MOTION_PAIRS:
        raise ConfigError(f"set must be one of {sorted(MOTION_PAIRS)}, got {set_name!r}")
    return sorted(name for forward, backward, _ in MOTION_PAIRS[set_name] for name in (forward, backward))


def _motion_of(class_name: str) -> tuple[Callable[[np.random.Generator, np.ndarray], State], bool]:
    """The motion that renders a class, and whether the class plays it backwards."""
    for pairs in MOTION_PAIRS.values():
        for forward, backward, motion in pairs:
            if class_name in (forward, backward):
                return motion, class_name == backward
    raise ValueError(f"unknown synthetic class {class_name!r}")


def _shape_mask(kind: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-test in the shape's own coordinates (about -1..1)."""
    if kind == 0:  # triangle, apex up
        return (v <= 0.9) & (np.abs(u) <= (v + 1.1) / 2)
    if kind == 1:  # square
        return (np.abs(u) <= 0.8) & (np.abs(v) <= 0.8)
    if kind == 2:  # bar
        return (np.abs(u) <= 1.0) & (np.abs(v) <= 0.4)
    if kind == 3:  # half disc
        return (u**2 + v**2 <= 1.0) & (v <= 0.25)
    return ((np.abs(u) <= 0.3) | (np.abs(v) <= 0.3)) & (np.abs(u) <= 1) & (np.abs(v) <= 1)  # cross


def _box_downsample(images: np.ndarray) -> np.ndarray:
    """Averages SUPERSAMPLE x SUPERSAMPLE blocks over axes 1 and 2 (strided sums beat a reshaped mean)."""
    step = SUPERSAMPLE
    return sum(images[:, i::step, j::step] for i in range(step) for j in range(step)) / step**2


def _bright_colour(rng: np.random.Generator, above: np.ndarray, margin: float = 90.0) -> np.ndarray:
    """A random hue whose mean level is at least ``margin`` above ``above``'s.

    The moving shape is always brighter than the background. With a random contrast sign a
    network must learn direction detectors for both polarities, which a small one trained for
    minutes does not: on move-left/move-right, a 4-layer 3D CNN stayed at chance for 10 epochs
    with random polarity and reached 100 % in 3 with a consistent one (docs/DEMO.md).
    """
    while True:
        colour = rng.uniform(0, 255, size=3)
        if colour.mean() >= above.mean() + margin:
            return colour


def _other_bright_colour(rng: np.random.Generator, above: np.ndarray, away_from: np.ndarray) -> np.ndarray:
    """A bright colour (see :func:`_bright_colour`) clearly different from ``away_from``."""
    while True:
        colour = _bright_colour(rng, above)
        if np.abs(colour - away_from).sum() > 120:
            return colour


def render_clip(class_name: str, rng: np.random.Generator, num_frames: int = 32, size: int = 64) -> np.ndarray:
    """Renders one video of a class.

    The random draws do not depend on which class of a pair is asked for, so the same
    ``rng`` state gives a clip of the backward class that is exactly the time reversal
    of the forward class's clip.

    Args:
        class_name: A name from :func:`class_names`.
        rng: Source of all randomness.
        num_frames: Frames (F >= 2).
        size: Frame height and width (even).

    Returns:
        uint8 (F, size, size, 3), RGB.
    """
    motion, backwards = _motion_of(class_name)
    t = np.linspace(0.0, 1.0, num_frames)
    state = motion(rng, t)
    angle = state.get("angle", np.full_like(t, rng.uniform(0, 2 * np.pi)))
    alpha = state.get("alpha", np.ones_like(t))
    aspect = state.get("aspect", np.ones_like(t))
    shape = int(rng.integers(5))

    # Background: a colour with a linear gradient and a few static blobs (same in every frame).
    side = size * SUPERSAMPLE
    grid = ((np.arange(side) + 0.5) / side).astype(np.float32)
    y, x = np.meshgrid(grid, grid, indexing="ij")  # (S, S) each
    base = rng.uniform(10, 120, size=3).astype(np.float32)  # dark enough for a brighter shape
    direction = rng.normal(size=2).astype(np.float32)
    ramp = (x * direction[0] + y * direction[1])[..., None] * rng.uniform(-30, 30, size=3).astype(np.float32)
    background = base + ramp  # (S, S, 3)
    for _ in range(int(rng.integers(1, 4))):
        blob_centre, blob_radius = rng.uniform(0, 1, size=2), rng.uniform(0.05, 0.15)
        blob = (x - blob_centre[0]) ** 2 + (y - blob_centre[1]) ** 2 <= blob_radius**2
        background[blob] = rng.uniform(0, 255, size=3)

    # Shape in its own coordinates for every frame: (F, S, S).
    def per_frame(values: np.ndarray) -> np.ndarray:
        return values.astype(np.float32)[:, None, None]

    dx = (x[None] - per_frame(state["cx"])) / per_frame(state["radius"])
    dy = (y[None] - per_frame(state["cy"])) / per_frame(state["radius"])
    cos, sin, stretch = per_frame(np.cos(angle)), per_frame(np.sin(angle)), per_frame(np.sqrt(aspect))
    u = (cos * dx + sin * dy) / stretch
    v = (cos * dy - sin * dx) * stretch
    inside = _shape_mask(shape, u, v)
    # A second colour on one side of the shape makes rotation visible for symmetric shapes.
    marked = u > 0.35
    fill = _bright_colour(rng, base)
    marker = _other_bright_colour(rng, base, fill)
    # Blending coverage fractions at the output size is nearly what blending at the
    # supersampled size and then filtering gives, at a quarter of the work.
    fill_cover = _box_downsample((inside & ~marked).astype(np.float32))[..., None]  # (F, size, size, 1)
    marker_cover = _box_downsample((inside & marked).astype(np.float32))[..., None]
    small_background = _box_downsample(background[None])  # (1, size, size, 3)
    opacity = per_frame(alpha)[..., None]  # (F, 1, 1, 1)
    frames = small_background + opacity * (
        fill_cover * (fill - small_background) + marker_cover * (marker - small_background)
    )  # (F, size, size, 3)
    noise = rng.standard_normal(size=frames.shape, dtype=np.float32) * rng.uniform(2, 8)
    clip = np.clip(np.round(frames + noise), 0, 255).astype(np.uint8)
    return clip[::-1].copy() if backwards else clip


class SyntheticSetError(A2VideoError, ValueError):
    """The output folder already holds a synthetic set made with other parameters."""


@dataclass(frozen=True)
class SyntheticSet:
    """Where a generated set lives; the fields plug into ``VideoDataModule``."""

    root: str
    video_root: str
    train_list: str
    val_list: str
    test_list: str
    classes_file: str
    class_names: tuple[str, ...]


def _video_seed(seed: int, set_name: str, class_name: str, number: int) -> np.random.SeedSequence:
    # Keyed by names, so a video does not change when other classes or counts change.
    key = [seed, *f"{set_name}/{class_name}".encode(), number]
    return np.random.SeedSequence(key)


def _write_one(job: tuple[str, str, np.random.SeedSequence, int, int, int]) -> None:
    path, class_name, seed_sequence, num_frames, size, fps = job
    write_video(path, render_clip(class_name, np.random.default_rng(seed_sequence), num_frames, size), fps)


def make_synthetic_set(
    out_dir: str | os.PathLike,
    set_name: str = "source",
    videos_per_class: int = 24,
    num_frames: int = 32,
    size: int = 64,
    seed: int = 0,
    fps: int = 25,
    workers: int | None = None,
) -> SyntheticSet:
    """Generates (or finds already generated) one synthetic set.

    Per class, ``videos_per_class // 5`` (at least 1) videos go to val and as many to
    test, the rest to train.

    Args:
        out_dir: Parent folder; the set goes to ``out_dir/<set_name>``.
        set_name: ``"source"`` or ``"target"``.
        videos_per_class: Videos per class over all splits (>= 3).
        num_frames: Frames per video.
        size: Frame side in pixels (even).
        seed: Seed; the same arguments give the same files.
        fps: Frame rate written in the files.
        workers: Processes for rendering/encoding (default: all cores; 0 or 1 = none).

    Returns:
        The set's paths.

    Raises:
        ConfigError: On bad arguments.
        SyntheticSetError: If the folder holds a set made with other parameters.
    """
    names = class_names(set_name)
    if videos_per_class < 3 or num_frames < 2 or size < 8 or size % 2:
        raise ConfigError("need videos_per_class >= 3, num_frames >= 2 and an even size >= 8")
    root = Path(out_dir) / set_name
    result = SyntheticSet(
        root=str(root),
        video_root=str(root / "videos"),
        train_list=str(root / "train.txt"),
        val_list=str(root / "val.txt"),
        test_list=str(root / "test.txt"),
        classes_file=str(root / "classes.txt"),
        class_names=tuple(names),
    )
    params = {"set": set_name, "videos_per_class": videos_per_class, "num_frames": num_frames,
              "size": size, "seed": seed, "fps": fps, "format": 3}  # fmt: skip
    manifest = root / "synth.json"
    if manifest.exists():
        existing = json.loads(manifest.read_text())
        if existing != params:
            raise SyntheticSetError(f"{root} holds a synthetic set made with other parameters ({existing}, "
                                    f"asked for {params}); delete it or use another --out")
        listed = [line.split()[0] for name in ("train.txt", "val.txt", "test.txt")
                  for line in (root / name).read_text().splitlines()]  # fmt: skip
        if all((root / "videos" / path).is_file() for path in listed):
            return result

    held_out = max(1, videos_per_class // 5)
    splits: dict[str, list[tuple[str, int]]] = {"train": [], "val": [], "test": []}
    jobs = []
    for label, class_name in enumerate(names):
        for number in range(videos_per_class):
            relative = f"{class_name}/{class_name}_{number:04d}.mp4"
            split = "val" if number < held_out else "test" if number < 2 * held_out else "train"
            splits[split].append((relative, label))
            seed_sequence = _video_seed(seed, set_name, class_name, number)
            jobs.append((str(root / "videos" / relative), class_name, seed_sequence, num_frames, size, fps))

    if workers is None:
        workers = usable_cores()
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_write_one, jobs, chunksize=8))
    else:
        for job in jobs:
            _write_one(job)
    for split, samples in splits.items():
        write_list(root / f"{split}.txt", samples)
    write_classes(root / "classes.txt", names)
    atomic_write_text(manifest, json.dumps(params, indent=1) + "\n")  # last: marks the set complete
    return result

