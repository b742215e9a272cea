"""``a2video predict``: the probabilities it writes equal the test protocol's views run through the
network by hand; a broken file is a failed row and the command still succeeds; windows and timelines."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from a2video.cli import main
from a2video.data.clips import ClipSpec
from a2video.data.datasets import EvalVideoDataset


def _expected_probabilities(ckpt, path: str, clips: int, crops: int) -> np.ndarray:
    """Views from the data package's test dataset; normalisation and softmax written out here."""
    p = ckpt.preprocessing
    item = EvalVideoDataset([(path, 0)], "", clip=ClipSpec(
        num_frames=p.num_frames, sampling_rate=p.sampling_rate, test_clips=clips, test_crops=crops,
        test_short_side=p.test_short_side, test_crop_size=p.test_crop_size))[0]
    assert bool(item["ok"])
    mean = torch.tensor(p.mean).view(1, 3, 1, 1, 1)
    std = torch.tensor(p.std).view(1, 3, 1, 1, 1)
    with torch.no_grad():
        logits = ckpt.net((item["video"].float() / 255 - mean) / std).double().numpy()  # (V, K)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).mean(axis=0)


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_folder_with_a_broken_file(tiny_checkpoint, video_folder, tmp_path, capsys):
    out = tmp_path / "pred"
    assert main(["predict", str(video_folder), "-c", str(tiny_checkpoint.path), "--clips", "2", "--crops", "3",
                 "--top-k", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "videos/s" in printed and "4 videos (1 failed)" in printed
    rows = {row["path"].rsplit("/", 1)[-1]: row for row in _rows(out / "predictions.csv")}
    assert set(rows) == {"broken.mp4", "clip0.mp4", "clip1.mp4", "clip2.mp4"}
    assert rows["broken.mp4"]["status"].startswith("failed: ") and rows["broken.mp4"]["top1_class"] == ""
    for name in ("clip0.mp4", "clip1.mp4", "clip2.mp4"):
        expected = _expected_probabilities(tiny_checkpoint, str(video_folder / name), clips=2, crops=3)
        order = np.argsort(-expected, kind="stable")[:3]
        row = rows[name]
        assert row["status"] == "ok"
        assert [row[f"top{i}_class"] for i in (1, 2, 3)] == [tiny_checkpoint.classes[c] for c in order]
        got = [float(row[f"top{i}_probability"]) for i in (1, 2, 3)]
        assert got == pytest.approx(expected[order], abs=2e-6)
    saved = json.loads((out / "predictions.json").read_text())
    assert len(saved) == 4
    for entry in saved:
        row = rows[entry["path"].rsplit("/", 1)[-1]]
        assert entry["status"] == row["status"]
        assert [e["class"] for e in entry["top"]] == [row[f"top{i}_class"] for i in (1, 2, 3) if row[f"top{i}_class"]]


def test_list_file_and_default_views(tiny_checkpoint, video_folder, tmp_path):
    listing = tmp_path / "videos.txt"
    listing.write_text("clip0.mp4 3\nclip2.mp4\n")
    out = tmp_path / "pred"
    assert main(["predict", str(listing), "-c", str(tiny_checkpoint.path), "--video-root", str(video_folder),
                 "--out", str(out)]) == 0
    rows = _rows(out / "predictions.csv")
    assert [r["path"] for r in rows] == [str(video_folder / "clip0.mp4"), str(video_folder / "clip2.mp4")]
    saved = json.loads((out / "predictions.json").read_text())
    assert saved[0]["views"] == 30  # the test protocol: 10 clips x 3 crops
    expected = _expected_probabilities(tiny_checkpoint, str(video_folder / "clip2.mp4"), clips=10, crops=3)
    assert float(rows[1]["top1_probability"]) == pytest.approx(expected.max(), abs=2e-6)


def test_windows_and_timeline(tiny_checkpoint, video_folder, tmp_path):
    out = tmp_path / "pred"
    video = video_folder / "clip1.mp4"  # 40 frames at 8 fps: 5 s
    assert main(["predict", str(video), str(video_folder / "broken.mp4"), "-c", str(tiny_checkpoint.path),
                 "--clips", "1", "--crops", "1", "--window", "2", "--stride", "1", "--out", str(out)]) == 0
    windows = _rows(out / "windows.csv")
    ok = [w for w in windows if w["status"] == "ok"]
    assert [(float(w["start_s"]), float(w["end_s"])) for w in ok] == [(0, 2), (1, 3), (2, 4), (3, 5)]
    assert [w for w in windows if w["status"].startswith("failed")][0]["path"].endswith("broken.mp4")
    probabilities = [sum(float(w[f"top{i}_probability"]) for i in range(1, 6)) for w in ok]
    assert probabilities == pytest.approx([1.0] * 4, abs=1e-5)  # 5 classes: top-5 is all of them
    png = out / "timelines" / "clip1.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_arguments_are_one_line(tiny_checkpoint, video_folder, tmp_path, capsys):
    assert main(["predict", str(tmp_path / "nothing.mp4"), "-c", str(tiny_checkpoint.path)]) == 1
    assert "input not found" in capsys.readouterr().err
    assert main(["predict", str(tmp_path), "-c", str(tiny_checkpoint.path), "--stride", "1"]) == 2
    assert main(["predict", str(video_folder), "-c", str(tmp_path / "missing.ckpt")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "--stride needs --window" in err
    assert err.strip().splitlines()[-1] == f"a2video: error: checkpoint not found: {tmp_path / 'missing.ckpt'}"


@pytest.mark.parametrize("command", ["predict", "features"])
def test_summary_names_the_compute_threads(tiny_checkpoint, video_folder, tmp_path, capsys, command):
    out = tmp_path / ("pred" if command == "predict" else "features.npz")
    assert main([command, str(video_folder / "clip0.mp4"), "-c", str(tiny_checkpoint.path), "--clips", "1",
                 "--crops", "1", "--threads", "1", "--out", str(out)]) == 0
    summary = [line for line in capsys.readouterr().out.splitlines() if line.startswith("1 videos (0 failed)")]
    assert len(summary) == 1 and "1 compute thread (--threads)" in summary[0], summary
