"""Issue 23 item 4: a damaged file gets one verdict, in the same words, from check, predict and
prepare; a two-stream file says which stream was used; FFmpeg's log lines stay off stderr."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from odd_videos import truncated, two_streams


@pytest.fixture(scope="module")
def odd(tmp_path_factory):
    folder = tmp_path_factory.mktemp("verdicts") / "videos"
    folder.mkdir()
    cut, two = truncated(folder, ".mp4"), two_streams(folder)
    (folder / "whole.mp4").unlink()
    return folder, cut, two


def _a2video(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "a2video", *map(str, args)], capture_output=True, text=True, timeout=300)


def _rows(path, key="path"):
    with open(path, newline="") as handle:
        return {row[key].rsplit("/", 1)[-1]: row for row in csv.DictReader(handle)}


def test_one_verdict_everywhere(odd, tmp_path):
    folder, cut, two = odd
    ckpt = _tiny_checkpoint(tmp_path)
    runs = {
        "check": _a2video("check", folder, "--out", tmp_path / "check.csv", "--workers", "1"),
        "predict": _a2video("predict", folder, "-c", ckpt, "--out", tmp_path / "pred", "--clips", "1", "--crops", "1"),
        "prepare": _a2video("prepare", folder, tmp_path / "prepared", "--workers", "1", "--no-progress"),
    }
    for name, run in runs.items():
        assert run.returncode == 0, (name, run.stderr)
        assert "partial file" not in run.stderr and "@ 0x" not in run.stderr, (name, run.stderr)  # FFmpeg's log
    check = _rows(tmp_path / "check.csv")
    predict = _rows(tmp_path / "pred" / "predictions.csv")
    prepare = _rows(tmp_path / "prepared" / "prepare_report.csv")
    truncated_note = f"truncated: {cut.pictures.size} frames readable"
    stream_note = "2 video streams: stream #0 used (128x48, 25 fps)"
    assert truncated_note in check["truncated.mp4"]["reason"]
    assert predict["truncated.mp4"]["status"] == "ok" and truncated_note in predict["truncated.mp4"]["note"]
    assert prepare["truncated.mp4"]["status"] == "prepared" and truncated_note in prepare["truncated.mp4"]["reason"]
    assert prepare["truncated.mp4"]["frames"] == str(cut.pictures.size)
    for rows, column in ((check, "reason"), (predict, "note"), (prepare, "reason")):
        assert stream_note in rows["two_streams.mp4"][column]


def _tiny_checkpoint(folder):
    import torch

    from a2video.models import create_model
    from a2video.models.preprocessing import Preprocessing
    from a2video.models.trained import TrainedModel, save_a2video_checkpoint
    from a2video.models.weights import WeightsReport

    torch.manual_seed(0)
    net = create_model("a2net_r26", num_classes=3, base_width=4).eval()
    pre = Preprocessing(mean=(0.45,) * 3, std=(0.225,) * 3, num_frames=4, sampling_rate=2, crop_size=32,
                        test_short_side=32, test_crop_size=32, source="test")
    path = folder / "tiny.ckpt"
    save_a2video_checkpoint(TrainedModel(net, "a2net_r26", pre, ["a", "b", "c"], WeightsReport("t", "t"), base_width=4), path)
    return path
