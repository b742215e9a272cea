"""Clip transforms: output shapes, crop positions, flips, normalisation."""

import numpy as np
import pytest
import torch

from a2video.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    EvalClipTransform,
    TrainClipTransform,
    normalize_video,
    resize_short_side,
    short_side_size,
    spatial_crops,
)


def position_frames(num_frames: int, height: int, width: int) -> torch.Tensor:
    """uint8 (T, H, W, 3) whose channels hold (frame, row % 256, column % 256)."""
    t, y, x = torch.meshgrid(torch.arange(num_frames), torch.arange(height), torch.arange(width), indexing="ij")
    return torch.stack([t, y % 256, x % 256], dim=-1).to(torch.uint8)


def test_short_side_size():
    assert short_side_size(240, 320, 256) == (256, 341)
    assert short_side_size(320, 240, 256) == (341, 256)
    assert short_side_size(100, 100, 64) == (64, 64)


def test_resize_short_side_only_when_needed():
    frames = position_frames(2, 60, 80)
    assert resize_short_side(frames, 60) is frames
    resized = resize_short_side(frames, 30)
    assert resized.shape == (2, 30, 40, 3) and resized.dtype == torch.uint8
    # Time channel untouched; the column channel still grows left to right.
    assert torch.equal(resized[1, :, :, 0], torch.ones(30, 40, dtype=torch.uint8))
    assert torch.all(resized[0, 5, 1:, 2] > resized[0, 5, :-1, 2])


def test_train_transform_crops_inside_the_scaled_frame_and_flips():
    transform = TrainClipTransform((40, 50), crop_size=32)
    rng = np.random.default_rng(0)
    flips, lefts = 0, set()
    for _ in range(200):
        short = transform.sample_short_side(rng)
        assert 40 <= short <= 50
        height, width = short_side_size(60, 90, short)
        frames = position_frames(3, height, width)
        clip = transform(frames, short, rng)
        assert clip.shape == (3, 3, 32, 32) and clip.dtype == torch.uint8  # (C, T, h, w)
        assert clip[0, :, 0, 0].tolist() == [0, 1, 2]  # frames keep their order
        rows, cols = clip[1, 0, :, 0].long(), clip[2, 0, 0, :].long()
        assert torch.equal(rows, torch.arange(rows[0], rows[0] + 32))  # a contiguous window
        if cols[0] > cols[-1]:
            flips += 1
            cols = cols.flip(0)
        assert torch.equal(cols, torch.arange(cols[0], cols[0] + 32))
        assert rows[-1] < height and cols[-1] < width
        lefts.add(int(cols[0]))
    assert 60 < flips < 140  # about half
    assert len(lefts) > 20


def test_train_transform_resizes_frames_that_come_at_another_size():
    transform = TrainClipTransform((64, 64), crop_size=64)
    clip = transform(position_frames(2, 120, 160), 64, np.random.default_rng(0))
    assert clip.shape == (3, 2, 64, 64)


def test_train_transform_rejects_a_crop_larger_than_the_scale():
    with pytest.raises(ValueError):
        TrainClipTransform((200, 300), crop_size=224)


def test_three_crops_landscape_left_centre_right():
    frames = position_frames(1, 40, 100)
    crops = spatial_crops(frames, 40, 3)
    assert [int(c[0, 0, 0, 2]) for c in crops] == [0, 30, 60]  # left column of each crop
    assert all(int(c[0, 0, 0, 1]) == 0 for c in crops)


def test_three_crops_portrait_top_centre_bottom():
    frames = position_frames(1, 100, 40)
    crops = spatial_crops(frames, 40, 3)
    assert [int(c[0, 0, 0, 1]) for c in crops] == [0, 30, 60]  # top row of each crop
    assert all(int(c[0, 0, 0, 2]) == 0 for c in crops)


def test_one_crop_is_centred():
    (centre,) = spatial_crops(position_frames(1, 50, 90), 32, 1)
    assert (int(centre[0, 0, 0, 1]), int(centre[0, 0, 0, 2])) == (9, 29)


def test_eval_transform_views_are_clip_major():
    clips = torch.stack([position_frames(4, 60, 80) + k for k in range(2)])  # (K=2, T, H, W, C)
    views = EvalClipTransform(short_side=30, crop_size=30, num_crops=3)(clips)
    assert views.shape == (6, 3, 4, 30, 30)
    assert views[:, 0, 0, 0, 0].tolist() == [0, 0, 0, 1, 1, 1]  # clip k fills views 3k..3k+2
    lefts = views[:3, 2, 0, 0, 0].tolist()
    assert lefts[0] < lefts[1] < lefts[2]


def test_normalize_matches_the_formula():
    video = torch.randint(0, 256, (2, 3, 4, 5, 6), dtype=torch.uint8)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1, 1)
    expected = (video.double() / 255 - mean.double()) / std.double()
    out = normalize_video(video)
    assert out.dtype == torch.float32
    assert torch.allclose(out.double(), expected, atol=1e-5)
    views = video.unsqueeze(1).expand(2, 3, 3, 4, 5, 6)  # (N, V, C, T, H, W)
    assert torch.allclose(normalize_video(views)[:, 1].double(), expected, atol=1e-5)
    with pytest.raises(TypeError):
        normalize_video(out)
