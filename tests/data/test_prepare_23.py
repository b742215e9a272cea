"""Issue 23 item 1: a prepared video shows what its source shows (pictures, size, timestamps),
no two inputs share an output name, and every left-out input says why."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from a2video.cli import main
from a2video.data.decoding import probe_video, read_frames
from a2video.data.lists import read_list
from odd_videos import read_marks, rotated, variable_rate


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("prepare23")
    src, dst = root / "src", root / "dst"
    (src / "a").mkdir(parents=True)
    (src / "b").mkdir()
    videos = {f"a/rotated{r}.mp4": rotated(src / "a", r) for r in (90, 180, 270)}
    videos |= {"b/vfr.mp4": variable_rate(src / "b", ".mp4"), "b/vfr.mkv": variable_rate(src / "b", ".mkv")}
    (src / "b" / "broken.mp4").write_bytes(b"not a video at all")
    assert main(["prepare", str(src), str(dst), "--workers", "1", "--no-progress", "--short-side", "320"]) == 0
    return src, dst, videos


def test_prepared_rotated_videos_show_the_source_pictures_at_its_size(prepared):
    src, dst, videos = prepared
    for name in ("a/rotated90.mp4", "a/rotated180.mp4", "a/rotated270.mp4"):
        odd, out = videos[name], dst / name
        info = probe_video(out)
        assert (info.height, info.width, info.rotation) == (odd.height, odd.width, 0), name
        for backend in ("pyav", "decord"):
            frames = read_frames(out, np.arange(info.num_frames), backend=backend, fallback=False)
            assert np.array_equal(read_marks(frames), odd.pictures), (name, backend)


def test_variable_rate_keeps_every_frame_time_and_both_names(prepared, capsys):
    src, dst, videos = prepared
    outputs = {"b/vfr.mp4": dst / "b" / "vfr.mp4", "b/vfr.mkv": dst / "b" / "vfr.mkv.mp4"}
    for name, out in outputs.items():
        source, copy = probe_video(src / name), probe_video(out)
        assert copy.num_frames == source.num_frames == 60
        assert np.abs(copy.timestamps - videos[name].timestamps).max() < 1e-3, name
        frames = read_frames(out, np.arange(60), backend="pyav")
        assert np.array_equal(read_marks(frames), videos[name].pictures)
    listed = {path for path, _ in read_list(dst / "all.txt")}
    assert {"b/vfr.mp4", "b/vfr.mkv.mp4"} <= listed


def test_left_out_inputs_say_why(prepared, tmp_path, capsys):
    src, dst, _ = prepared
    with open(dst / "prepare_report.csv", newline="") as handle:
        rows = {row["path"]: row for row in csv.DictReader(handle)}
    assert rows["b/broken.mp4"]["status"] == "unreadable" and rows["b/broken.mp4"]["reason"]
    # A second run only reports; its summary says where the reasons are, not "missing on disk".
    capsys.readouterr()
    assert main(["prepare", str(src), str(dst), "--workers", "1", "--no-progress", "--short-side", "320"]) == 0
    out = capsys.readouterr().out
    assert "missing on disk" not in out and "prepare_report.csv" in out, out
