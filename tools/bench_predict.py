"""``a2video predict`` speed with I3D-R50 8×8 at 224², 1 clip × 1 crop and 10 clips × 3 crops.

A random-weight ``i3d_r50`` (400 classes; weights do not change the speed) is written as an
a2video checkpoint whose preprocessing makes 224² test views (short side 224, crop 224), and a
few synthetic 10 s 320×240 25 fps videos are encoded; ``a2video predict`` then runs on them with
each view setting. Its summary line gives videos/s and, measured in the same run, the time of the
network's forward pass per view, which is what to compare across machines (decoding and the
shared CPU's other jobs are in videos/s only).

Usage::

    python tools/bench_predict.py [--videos 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from a2video.cli import main
from a2video.data.encoding import write_video
from a2video.models import create_model
from a2video.models.preprocessing import KINETICS_SLOWFAST
from a2video.models.trained import TrainedModel, save_a2video_checkpoint
from a2video.models.weights import WeightsReport


def make_inputs(folder: Path, videos: int) -> Path:
    torch.manual_seed(0)
    net = create_model("i3d_r50", num_classes=400).eval()
    preprocessing = KINETICS_SLOWFAST.with_clip(test_short_side=224, test_crop_size=224, source="benchmark")
    checkpoint = folder / "i3d_r50_random.ckpt"
    save_a2video_checkpoint(TrainedModel(net, "i3d_r50", preprocessing, [f"c{i}" for i in range(400)],
                                         WeightsReport("random", "random")), checkpoint)
    rng = np.random.default_rng(0)
    for i in range(videos):
        frames = rng.integers(0, 255, size=(250, 240, 320, 3), dtype=np.uint8)
        write_video(folder / "videos" / f"video{i}.mp4", frames, fps=25, gop_size=50)
    return checkpoint


def run(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        checkpoint = make_inputs(folder, args.videos)
        for clips, crops in ((1, 1), (10, 3)):
            print(f"--- {clips} clip(s) x {crops} crop(s)", flush=True)
            main(["predict", str(folder / "videos"), "-c", str(checkpoint), "--clips", str(clips), "--crops",
                  str(crops), "--device", args.device, "--view-chunk", "10", "--out", str(folder / "out")])


if __name__ == "__main__":
    run()
