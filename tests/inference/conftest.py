"""Fixtures of the inference tests: a tiny trained-model checkpoint and a folder of small videos."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from a2video.data.encoding import write_video
from a2video.models import create_model
from a2video.models.preprocessing import Preprocessing
from a2video.models.trained import TrainedModel, save_a2video_checkpoint
from a2video.models.weights import WeightsReport

CLASSES = ["left", "right", "up", "down", "still"]
# Clip settings of the tiny checkpoint: 4 frames every 2nd, 32-pixel views, pytorchvideo-like statistics.
PREPROCESSING = Preprocessing(mean=(0.45, 0.45, 0.45), std=(0.225, 0.225, 0.225), num_frames=4, sampling_rate=2,
                              crop_size=32, test_short_side=32, test_crop_size=32, source="test")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    torch.manual_seed(0)
    net = create_model("a2net_r26", num_classes=len(CLASSES), base_width=4).eval()
    with torch.no_grad():  # non-trivial A² blocks and classifier, so every part shows in the output
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm3d):
                module.weight.uniform_(0.5, 1.5)
                module.running_mean.normal_(0, 0.1)
        net.fc.weight.normal_(0, 0.5)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"
    trained = TrainedModel(net, "a2net_r26", PREPROCESSING, CLASSES, WeightsReport("test", "test"), base_width=4)
    save_a2video_checkpoint(trained, path)
    return SimpleNamespace(path=path, net=net, preprocessing=PREPROCESSING, classes=CLASSES)


@pytest.fixture(scope="session")
def video_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three readable videos (moving bright squares, 40×48, 8 fps) and one that is not a video."""
    folder = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(0)
    for i, frames in enumerate((24, 40, 16)):
        video = rng.integers(0, 60, size=(frames, 40, 48, 3), dtype=np.uint8)
        for t in range(frames):
            x = (t * (i + 1)) % 40
            video[t, 10:20, x : x + 8] = 230
        write_video(folder / f"clip{i}.mp4", video, fps=8)
    (folder / "broken.mp4").write_bytes(b"not a video at all")
    return folder
