"""Training and evaluation datasets: clip content, seeding, and bad videos."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, default_collate

from a2video.data.clips import ClipSpec
from a2video.data.datasets import (
    EvalVideoDataset,
    TooManyBadVideos,
    TrainVideoDataset,
    collate_train,
)
from a2video.data.encoding import write_video
from a2video.data.loader import EpochSampler
from video_codes import coded_frames, make_bad_videos, read_codes


@pytest.fixture(scope="module")
def mixed_root(tmp_path_factory):
    """Four good coded videos (60 frames, label = number) and three bad ones."""
    root = tmp_path_factory.mktemp("mixed")
    good = []
    for number in range(4):
        write_video(root / f"good{number}.mp4", coded_frames(60), fps=25, gop_size=12)
        good.append((f"good{number}.mp4", number))
    bad = [(path.name, 9) for path in make_bad_videos(root / "bad").values()]
    return root, good, [(f"bad/{name}", label) for name, label in bad]


def make_train(root, samples, scale_range=(48, 48), crop_size=48, **kwargs):
    clip = ClipSpec(num_frames=4, sampling_rate=5, train_scale_range=scale_range, crop_size=crop_size)
    return TrainVideoDataset(samples, root, clip=clip, **{"seed": 0, **kwargs})


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_train_clip_holds_the_sampled_frames_in_order(tmp_path, backend):
    # Square frames, so the 48-pixel crop keeps every bar of the frame-number code.
    write_video(tmp_path / "v.mp4", coded_frames(60, height=48, width=48), fps=25)
    dataset = TrainVideoDataset(
        [("v.mp4", 3)], tmp_path, backend=backend,
        clip=ClipSpec(num_frames=5, sampling_rate=6, train_scale_range=(48, 48), crop_size=48),
    )
    starts = set()
    for seed in range(12):
        item = dataset[(0, seed)]
        assert item["video"].shape == (3, 5, 48, 48) and item["video"].dtype == torch.uint8  # (C, T, H, W)
        assert item["label"].dtype == torch.int64 and int(item["label"]) == 3
        assert int(item["num_failed"]) == 0 and item["failed_videos"] == []
        frames = item["video"].permute(1, 2, 3, 0).numpy()  # (T, H, W, C)
        codes, flipped = read_codes(frames), read_codes(frames[:, :, ::-1])
        if not np.all(np.diff(codes) == 6):
            codes = flipped  # the clip was mirrored
        assert np.all(np.diff(codes) == 6) and 0 <= codes[0] and codes[-1] < 60
        starts.add(int(codes[0]))
    assert len(starts) > 4


def test_items_depend_only_on_index_and_seed(mixed_root):
    root, good, _ = mixed_root
    one, two = make_train(root, good, scale_range=(48, 64), crop_size=40), make_train(root, good, scale_range=(48, 64), crop_size=40)
    assert torch.equal(one[(1, 123)]["video"], two[(1, 123)]["video"])
    different = [not torch.equal(one[(1, 123)]["video"], one[(1, seed)]["video"]) for seed in range(8)]
    assert sum(different) >= 6


def test_training_skips_bad_videos_and_counts_them(mixed_root):
    root, good, bad = mixed_root
    samples = good + bad
    dataset = make_train(root, samples, max_failed_fraction=0.5)
    loader = DataLoader(dataset, batch_size=7, sampler=EpochSampler(len(samples), seed=1, with_item_seeds=True), collate_fn=collate_train)
    batch = next(iter(loader))
    assert batch["video"].shape == (7, 3, 4, 48, 48)
    assert set(batch["label"].tolist()) <= {0, 1, 2, 3}  # every item is a good video
    # Every bad video is met at least once (the batch holds all 7 rows); one first met as the
    # replacement draw for another item is met again on its own row, so 3 or more events.
    assert int(batch["num_failed"].sum()) == len(batch["failed_videos"]) >= 3
    failed = dict(batch["failed_videos"])
    assert set(failed) == {str(root / path) for path, _ in bad}
    assert "empty file" in failed[str(root / "bad/empty.mp4")]
    assert set(dataset.bad_videos.failed) == set(failed)
    # A known bad video is not decoded again but still counted for the item that drew it.
    again = dataset[(len(good), 5)]
    assert int(again["num_failed"]) == 1 and int(again["label"]) in range(4)


def test_too_many_bad_videos_stop_training_with_a_list(mixed_root):
    root, good, bad = mixed_root
    dataset = make_train(root, good + bad, max_failed_fraction=0.2)  # 1 of 7 allowed
    with pytest.raises(TooManyBadVideos) as caught:
        for index in range(len(good), len(good) + len(bad)):
            dataset[index]
    message = str(caught.value)
    assert "2 of 7 training videos could not be decoded" in message
    assert sum(f"{root}/bad/" in line for line in message.splitlines()) == 2


def test_all_bad_videos_raise_instead_of_looping(mixed_root):
    root, _, bad = mixed_root
    with pytest.raises(TooManyBadVideos, match="3 of 3"):
        make_train(root, bad, max_failed_fraction=1.0)[0]


def test_eval_views_are_segment_clips_and_crops(tmp_path):
    write_video(tmp_path / "v.mp4", coded_frames(100, height=32, width=64), fps=25)
    dataset = EvalVideoDataset([("v.mp4", 1)], tmp_path, clip=ClipSpec(
        num_frames=4, sampling_rate=3, test_clips=5, test_crops=3, test_short_side=32, test_clip_placement="segments"))
    item = dataset[0]
    assert item["video"].shape == (15, 3, 4, 32, 32)
    assert bool(item["ok"]) and item["error"] == "" and int(item["index"]) == 0 and int(item["label"]) == 1
    # Rebuild the full frames from the left and right crops, and read the frame numbers.
    views = item["video"].permute(0, 2, 3, 4, 1).numpy().reshape(5, 3, 4, 32, 32, 3)  # (K, crops, T, h, w, C)
    whole = np.concatenate([views[:, 0], views[:, 2]], axis=-2)  # (K, T, 32, 64, C)
    # 100 frames in 5 segments of 20; a clip spans 10 frames, so starts are centre - 4.5, rounded.
    expected = np.array([[start + 3 * j for j in range(4)] for start in (5, 25, 45, 65, 85)])
    assert np.array_equal(read_codes(whole), expected)


def test_eval_reports_bad_videos_and_keeps_them(mixed_root):
    root, good, bad = mixed_root
    samples = good[:1] + bad
    dataset = EvalVideoDataset(samples, root, clip=ClipSpec(
        num_frames=4, sampling_rate=2, test_clips=2, test_crops=1, test_short_side=40, test_crop_size=32))
    batch = default_collate([dataset[i] for i in range(len(samples))])
    assert batch["video"].shape == (4, 2, 3, 4, 32, 32) and batch["video"].dtype == torch.uint8
    assert batch["ok"].tolist() == [True, False, False, False]
    assert batch["index"].tolist() == [0, 1, 2, 3]
    assert batch["error"][0] == ""
    assert all(reason for reason in batch["error"][1:])
    assert int(batch["video"][1:].abs().sum()) == 0  # failed videos are zeros
