"""The synthetic motion dataset: class sets, time reversal, motion direction, determinism, layout."""

import os

import numpy as np
import pytest

from a2video.data.decoding import probe_video, read_frames
from a2video.data.encoding import write_video
from a2video.data.lists import read_classes, read_list
from a2video.preparation.synthetic import MOTION_PAIRS, class_names, make_synthetic_set, render_clip
from a2video.errors import ConfigError


def test_two_disjoint_class_sets():
    source, target = class_names("source"), class_names("target")
    assert len(source) == 10 and len(target) == 8
    assert not set(source) & set(target)
    assert source == sorted(source)
    with pytest.raises(ConfigError):
        class_names("both")


def test_rendering_is_seeded():
    one = render_clip("grow", np.random.default_rng(11), num_frames=8, size=32)
    assert one.shape == (8, 32, 32, 3) and one.dtype == np.uint8
    assert np.array_equal(one, render_clip("grow", np.random.default_rng(11), num_frames=8, size=32))
    assert not np.array_equal(one, render_clip("grow", np.random.default_rng(12), num_frames=8, size=32))


@pytest.mark.parametrize("pair", [pair[:2] for pairs in MOTION_PAIRS.values() for pair in pairs])
def test_paired_classes_are_time_reversals(pair):
    forward, backward = pair
    a = render_clip(forward, np.random.default_rng(5), num_frames=12, size=32)
    b = render_clip(backward, np.random.default_rng(5), num_frames=12, size=32)
    assert np.array_equal(b, a[::-1])
    assert np.abs(a.astype(int) - b).mean() > 0.5  # the order is what differs: not static


def test_reversed_video_of_a_class_decodes_like_its_partner(tmp_path):
    a = render_clip("move_right", np.random.default_rng(8))
    b = render_clip("move_left", np.random.default_rng(8))
    write_video(tmp_path / "a.mp4", a)
    write_video(tmp_path / "b.mp4", b)
    frames = np.arange(32)
    decoded_a = read_frames(tmp_path / "a.mp4", frames).astype(int)
    decoded_b = read_frames(tmp_path / "b.mp4", frames).astype(int)
    assert np.abs(decoded_a[::-1] - decoded_b).mean() < 3  # compression noise only
    assert np.abs(decoded_a - decoded_b).mean() > 2 * np.abs(decoded_a[::-1] - decoded_b).mean()


def motion_track(clip: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame pair: centre (x, y) and spread of the pixels that change (moving edges)."""
    change = np.abs(np.diff(clip.astype(int), axis=0)).mean(axis=-1) > 30  # (F-1, H, W)
    xs, ys, spreads = [], [], []
    for mask in change:
        y, x = np.nonzero(mask)
        xs.append(np.median(x))
        ys.append(np.median(y))
        spreads.append(np.median(np.hypot(x - x.mean(), y - y.mean())))
    return np.array(xs), np.array(ys), np.array(spreads)


def trend(values: np.ndarray) -> float:
    return float(np.corrcoef(np.arange(len(values)), values)[0, 1])


@pytest.mark.parametrize(
    ("name", "axis", "sign"),
    [("move_right", 0, 1), ("move_left", 0, -1), ("move_down", 1, 1), ("move_up", 1, -1), ("grow", 2, 1), ("shrink", 2, -1)],
)
def test_classes_move_the_way_their_names_say(name, axis, sign):
    for seed in range(4):
        track = motion_track(render_clip(name, np.random.default_rng(seed), num_frames=16, size=64))[axis]
        assert sign * trend(track) > 0.6, (name, seed)


def test_set_layout_lists_and_no_name_collisions(tiny_source_set):
    made = tiny_source_set
    assert read_classes(made.classes_file) == class_names("source") == list(made.class_names)
    lists = {name: read_list(getattr(made, f"{name}_list"), 10) for name in ("train", "val", "test")}
    assert [len(lists[name]) for name in ("train", "val", "test")] == [30, 10, 10]
    paths = [path for samples in lists.values() for path, _ in samples]
    assert len(set(paths)) == 50
    for path, label in lists["train"]:
        assert path.startswith(made.class_names[label] + "/")
    info = probe_video(os.path.join(made.video_root, paths[0]))
    assert (info.num_frames, info.height, info.width) == (16, 32, 32)


def test_generation_is_deterministic_parallel_or_not_and_idempotent(tmp_path):
    args = dict(set_name="target", videos_per_class=3, num_frames=8, size=16, seed=9)
    serial = make_synthetic_set(tmp_path / "a", workers=1, **args)
    parallel = make_synthetic_set(tmp_path / "b", workers=2, **args)
    samples = read_list(serial.train_list) + read_list(serial.val_list) + read_list(serial.test_list)
    assert read_list(parallel.train_list) + read_list(parallel.val_list) + read_list(parallel.test_list) == samples
    for path, _ in samples:
        one = read_frames(os.path.join(serial.video_root, path), np.arange(8))
        two = read_frames(os.path.join(parallel.video_root, path), np.arange(8))
        assert np.array_equal(one, two)

    video = os.path.join(serial.video_root, samples[0][0])
    before = os.stat(video).st_mtime_ns
    assert make_synthetic_set(tmp_path / "a", workers=1, **args) == serial
    assert os.stat(video).st_mtime_ns == before  # complete set: nothing rewritten

    os.remove(video)
    make_synthetic_set(tmp_path / "a", workers=1, **args)
    assert np.array_equal(read_frames(video, np.arange(8)), read_frames(os.path.join(parallel.video_root, samples[0][0]), np.arange(8)))

    with pytest.raises(ValueError, match="holds a synthetic set made with other parameters"):
        make_synthetic_set(tmp_path / "a", workers=1, **{**args, "seed": 10})
