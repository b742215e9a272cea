"""The bad-video limit at its exact boundary: ``max_failed_fraction * videos`` failures are allowed, one more is not.

The other tests put the limit between two whole numbers (0.07 x 33 = 2.31), where ``>`` and ``>=``
agree; here ``fraction x videos`` is a whole number.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from a2video.data.clips import ClipSpec
from a2video.data.datasets import TooManyBadVideos, TrainVideoDataset
from a2video.data.encoding import write_video
from a2video.engine.datamodule import VideoDataModule


def _failure_batch(failures: list[tuple[str, str]]) -> dict:
    return {"video": torch.zeros((1, 3, 4, 28, 28), dtype=torch.uint8), "label": torch.zeros(1, dtype=torch.int64),
            "num_failed": torch.tensor([len(failures)]), "failed_videos": failures}  # fmt: skip


def test_the_data_module_allows_exactly_the_fraction(tiny_source_set):
    data = VideoDataModule(tiny_source_set.video_root, train_list=tiny_source_set.train_list, num_frames=4,
                           train_scale_range=(32, 32), crop_size=28, num_workers=0, max_failed_fraction=0.1)
    total = len(data.samples("train"))
    assert total == 30 and 0.1 * total == 3.0  # the boundary is a whole number
    for i in range(3):
        data.on_after_batch_transfer(_failure_batch([(f"bad{i}.mp4", "empty file")]), 0)  # 3 of 30: allowed
    with pytest.raises(TooManyBadVideos, match="4 of 30 training videos"):
        data.on_after_batch_transfer(_failure_batch([("bad3.mp4", "empty file")]), 0)


@pytest.fixture
def small_set(tmp_path):
    """Eight list entries: the first ``good`` are real videos, the others text files named .mp4."""

    def make(good: int) -> list[tuple[str, int]]:
        frames = np.full((8, 32, 32, 3), 128, dtype=np.uint8)
        samples = []
        for i in range(8):
            name = f"v{i}.mp4"
            if i < good:
                write_video(tmp_path / name, frames)
            else:
                (tmp_path / name).write_text("not a video\n")
            samples.append((name, 0))
        return samples

    return make


def _draw_every_item(samples, root, fraction: float) -> int:
    dataset = TrainVideoDataset(samples, root, flip_probability=0.0, max_failed_fraction=fraction, backend="pyav",
                                clip=ClipSpec(num_frames=4, sampling_rate=2, train_scale_range=(32, 32), crop_size=32))
    return sum(int(dataset[i]["num_failed"]) for i in range(len(dataset)))


def test_a_dataset_at_the_limit_keeps_loading(small_set, tmp_path):
    samples = small_set(good=6)
    assert _draw_every_item(samples, tmp_path, fraction=0.25) == 2  # 2 of 8 = 0.25: allowed


def test_a_dataset_past_the_limit_stops(small_set, tmp_path):
    samples = small_set(good=5)
    with pytest.raises(TooManyBadVideos, match="3 of 8 training videos"):
        _draw_every_item(samples, tmp_path, fraction=0.25)


def test_a_dataset_with_no_readable_video_stops_even_at_fraction_one(small_set, tmp_path):
    samples = small_set(good=0)
    with pytest.raises(TooManyBadVideos, match="8 of 8 training videos"):
        _draw_every_item(samples, tmp_path, fraction=1.0)
