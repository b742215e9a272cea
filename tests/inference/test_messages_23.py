"""Issue 23 item 5: each mistake is one clear line and a non-zero exit, found before the work."""

from __future__ import annotations

import json
import os

import pytest
import torch

from a2video.cli import main
from a2video.evaluation.splits import ACCURACY_KEYS


def _fails(capsys, *args) -> str:
    capsys.readouterr()
    rc = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert rc != 0, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("a2video: error: "), err
    return lines[0]


def test_a_text_file_as_checkpoint_says_it_is_not_one(video_folder, tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    line = _fails(capsys, "predict", video_folder, "-c", text, "--out", tmp_path / "p")
    assert f"{text} is not a checkpoint" in line and "Error" not in line.split("error:", 1)[1], line


def test_a_folder_as_checkpoint_says_folder(video_folder, tmp_path, capsys):
    line = _fails(capsys, "predict", video_folder, "-c", tmp_path, "--out", tmp_path / "p")
    assert "is a folder" in line and "not found" not in line, line


@pytest.mark.parametrize("command", ["predict", "features", "check"])
def test_an_unwritable_out_is_found_before_any_video_is_read(command, tiny_checkpoint, video_folder, tmp_path,
                                                             capsys, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    out = blocker / ("p" if command == "predict" else "out.file")  # below a file: can never be created
    work = []  # the model loaded, or the videos scanned: the long part that must not start
    import a2video.commands.check
    import a2video.commands.features
    import a2video.commands.predict

    for module, name in ((a2video.commands.predict, "load_trained"), (a2video.commands.features, "load_trained"),
                         (a2video.commands.check, "check_videos")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _real=real, **k: work.append(a) or _real(*a, **k))
    args = [command, video_folder, "--out", out] + ([] if command == "check" else ["-c", tiny_checkpoint.path])
    line = _fails(capsys, *args, *(["--workers", "1"] if command == "check" else []))
    assert f"cannot write --out {out}" in line, line
    assert work == []


def test_cuda_without_a_gpu_is_one_line(tiny_checkpoint, video_folder, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    line = _fails(capsys, "predict", video_folder, "-c", tiny_checkpoint.path, "--device", "cuda",
                  "--out", tmp_path / "p")
    assert "--device cuda" in line and "--device cpu" in line, line


def test_zero_clips_is_refused(tiny_checkpoint, video_folder, tmp_path, capsys):
    line = _fails(capsys, "predict", video_folder, "-c", tiny_checkpoint.path, "--clips", "0", "--out", tmp_path / "p")
    assert "test_clips" in line and ">= 1" in line and "--test-clips 0" in line  # --clips is its alias
    assert not (tmp_path / "p" / "predictions.csv").exists()


@pytest.mark.parametrize("command", ["check", "prepare"])
def test_an_empty_folder_fails(command, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [command, empty] + ([tmp_path / "out"] if command == "prepare" else ["--out", tmp_path / "r.csv"])
    line = _fails(capsys, *args, "--workers", "1")
    assert "no videos in" in line, line


def test_average_splits_refuses_one_run_given_twice(tmp_path, capsys):
    metrics = {key: 0.5 for key in ACCURACY_KEYS} | {"num_videos": 10, "num_failed_videos": 0}
    for name in ("split1", "copy"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps(metrics))
    first = tmp_path / "split1" / "metrics.json"
    assert "one run" in _fails(capsys, "average-splits", first, first)
    assert "one run" in _fails(capsys, "average-splits", first, tmp_path / "copy" / "metrics.json")
