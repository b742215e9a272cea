"""``VideoDataModule(horizontal_flip=...)``: off means no training clip is ever mirrored.

Classes defined by a direction (the demo's move-left / move-right) depend on it: a flipped clip
shows the other class's motion under its own label.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from a2video.data.encoding import write_video
from a2video.data.lists import write_classes, write_list
from a2video.engine.datamodule import VideoDataModule

NUM_VIDEOS = 24  # a flip at probability 1/2 leaves all 24 unmirrored with probability 6e-8
SIZE = 32


@pytest.fixture(scope="module")
def left_bright_set(tmp_path_factory):
    """Videos whose left half is white and right half black, in every frame."""
    root = tmp_path_factory.mktemp("left_bright")
    frames = np.zeros((12, SIZE, SIZE, 3), dtype=np.uint8)  # (T, H, W, C)
    frames[:, :, : SIZE // 2] = 255
    first = write_video(root / "videos" / "v00.mp4", frames)
    for i in range(1, NUM_VIDEOS):
        shutil.copyfile(first, root / "videos" / f"v{i:02d}.mp4")
    write_list(root / "train.txt", [(f"v{i:02d}.mp4", 0) for i in range(NUM_VIDEOS)])
    write_classes(root / "classes.txt", ["left_bright"])
    return root


def _mirrored(root, horizontal_flip: bool) -> list[bool]:
    """For each training clip of one epoch: is the bright half on the right?"""
    data = VideoDataModule(
        str(root / "videos"), train_list=str(root / "train.txt"), num_frames=4, sampling_rate=2,
        train_scale_range=(SIZE, SIZE), crop_size=SIZE, horizontal_flip=horizontal_flip, batch_size=NUM_VIDEOS,
        num_workers=0, seed=3,
    )  # fmt: skip
    data.setup("fit")
    [batch] = list(data.train_dataloader())
    video = batch["video"].float()  # (N, C, T, H, W); the crop is the whole frame, only a flip can move it
    left, right = video[..., : SIZE // 2].mean((1, 2, 3, 4)), video[..., SIZE // 2 :].mean((1, 2, 3, 4))
    assert torch.all((left - right).abs() > 200), "every clip shows one bright and one dark half"
    return (right > left).tolist()


def test_no_clip_is_mirrored_when_the_flip_is_off(left_bright_set):
    assert not any(_mirrored(left_bright_set, horizontal_flip=False))


def test_about_half_the_clips_are_mirrored_when_the_flip_is_on(left_bright_set):
    mirrored = _mirrored(left_bright_set, horizontal_flip=True)
    assert 4 <= sum(mirrored) <= NUM_VIDEOS - 4, mirrored  # binomial(24, 1/2): outside with p < 1e-3
