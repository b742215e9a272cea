"""``a2video views`` / ``describe_test_views``: the frames and crops it prints are those ``test`` uses."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from a2video.cli import main
from a2video.data.clips import ClipSpec
from a2video.data.datasets import EvalVideoDataset
from a2video.data.decoding import read_frames
from a2video.data.encoding import write_video
from a2video.data.views import describe_test_views
from a2video.models import create_model
from a2video.models.preprocessing import IMAGENET
from a2video.models.trained import TrainedModel, save_a2video_checkpoint
from a2video.models.weights import WeightsReport
from odd_videos import make_odd_videos
from video_codes import coded_frames, read_codes

SLOWFAST_3X3 = ClipSpec(num_frames=8, sampling_rate=4, target_fps=30, protocol="slowfast", test_clips=3,
                        test_crops=3, test_short_side=32)


@pytest.fixture(scope="module")
def coded(tmp_path_factory):
    path = tmp_path_factory.mktemp("views") / "v.mp4"
    write_video(path, coded_frames(120, height=32, width=64), fps=30, gop_size=10)  # 512 ticks per frame
    return path


@pytest.mark.parametrize("protocol", ["slowfast", "pytorchvideo", "mmaction2", "a2video"])
def test_the_described_views_are_the_datasets(coded, protocol):
    clip = SLOWFAST_3X3.with_values(protocol=protocol)
    views = describe_test_views(coded, clip)
    frames = np.array(views.frames)  # (3, 8)
    assert frames.shape == (3, 8)
    decoded = read_frames(coded, frames)  # (3, 8, 32, 64, 3) at the file's size = the resized size here
    assert read_codes(decoded).tolist() == views.frames  # frame k shows code k
    assert views.pts == (frames * 512).tolist() and np.allclose(views.times_s, frames / 30)
    assert views.resized_size == (32, 64) and views.crop_size == 32 and len(views.crops) == 3
    item = EvalVideoDataset([(coded.name, 0)], coded.parent, clip=clip)[0]
    dataset_views = item["video"].permute(0, 2, 3, 4, 1).numpy().reshape(3, 3, 8, 32, 32, 3)  # (K, crops, ...)
    for j, (top, left) in enumerate(views.crops):
        assert np.array_equal(dataset_views[:, j], decoded[:, :, top : top + 32, left : left + 32])


def test_slowfast_decoding_and_the_header_are_reported(tmp_path):
    odd = make_odd_videos(tmp_path)
    clip = ClipSpec(num_frames=4, sampling_rate=3, target_fps=30, protocol="slowfast", test_clips=3)
    edit_list = describe_test_views(odd["edit_list"].path, clip)
    assert (edit_list.frames_shown, edit_list.header_frames, edit_list.decoding) == (60, 90, "selective")
    assert edit_list.header_duration_s == pytest.approx(2.0)
    mkv = describe_test_views(odd["offset_mkv"].path, clip)
    assert (mkv.header_frames, mkv.header_duration_s, mkv.decoding) == (0, None, "all")
    assert mkv.pts[0][0] == 5000 and mkv.times_s[0][0] == 0.0  # a 5 s start offset: times count from the first frame
    assert "(all decoding)" in mkv.lines()[0] and "header 0 frames, duration none" in mkv.lines()[0]


def test_views_command_prints_writes_and_goes_on_past_a_bad_file(coded, tmp_path, capsys):
    out = tmp_path / "views.json"
    code = main(["views", str(tmp_path / "missing.mp4"), str(coded), "--protocol", "slowfast", "--num-frames", "8",
                 "--sampling-rate", "4", "--target-fps", "30", "--test-clips", "3", "--test-short-side", "32",
                 "--json", str(out)])
    assert code == 1
    printed = capsys.readouterr()
    assert "missing.mp4: cannot read: file not found" in printed.out
    assert "clip 1: frames 30 34 38 43 47 52 56 61" in printed.out  # PyAV's reader starts clip 1 at frame 30
    assert "1 of 2 videos could not be read" in printed.err
    written = json.loads(out.read_text())
    assert written["clip"]["protocol"] == "slowfast" and written["videos"][0]["error"] == "file not found"
    assert written["videos"][1]["frames"] == describe_test_views(coded, SLOWFAST_3X3).frames


def test_views_command_takes_the_checkpoints_clip_spec(coded, tmp_path, capsys):
    torch.manual_seed(0)
    net = create_model("i3d_r26", num_classes=2, base_width=4).eval()
    trained = TrainedModel(net, "i3d_r26", IMAGENET, ["a", "b"], WeightsReport("test", "test"), base_width=4,
                           clip=SLOWFAST_3X3.with_values(test_clips=2))
    save_a2video_checkpoint(trained, tmp_path / "m.ckpt")
    assert main(["views", str(coded), "-c", str(tmp_path / "m.ckpt"), "--json", str(tmp_path / "v.json")]) == 0
    written = json.loads((tmp_path / "v.json").read_text())
    assert written["clip"] == SLOWFAST_3X3.with_values(test_clips=2).to_dict()
    assert written["videos"][0]["frames"] == describe_test_views(coded, SLOWFAST_3X3.with_values(test_clips=2)).frames
    assert main(["views", str(coded), "-c", str(tmp_path / "m.ckpt"), "--protocol", "a2video"]) == 0
    assert "protocol a2video" in capsys.readouterr().out.splitlines()[-4]
