"""``a2video check``: every kind of problem file lands in the CSV with the right status and flags."""

from __future__ import annotations

import argparse
import csv

import av
import numpy as np
import pytest

import a2video.data.decoding as decoding
from a2video.commands.check import configure_check, run_check
from a2video.preparation.check import CheckError, check_video
from a2video.errors import ConfigError
from a2video.data.encoding import write_video
from a2video.data.lists import write_list
from odd_videos import edit_list, marked_frames, rotated, ten_bit, truncated, two_streams, variable_rate
from video_codes import make_bad_videos


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A folder with one file of each kind, and the status and flags each must get."""
    av.logging.set_level(av.logging.PANIC)
    root = tmp_path_factory.mktemp("check")
    write_video(root / "good.mp4", marked_frames(80, 48, 128), fps=25)
    write_video(root / "short.mp4", marked_frames(20, 48, 128), fps=10)  # 2 s at 10 fps
    bad = make_bad_videos(root / "bad")  # empty, truncated without its index, text
    zero = root / "zero.mp4"  # the index (written first) survives, the first packet does not
    with av.open(str(root / "faststart.mp4"), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 128, 48, "yuv420p"
        for frame in marked_frames(20, 48, 128):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    with av.open(str(root / "faststart.mp4")) as container:
        first = next(iter(container.streams.video[0].index_entries))
        cut = first.pos + first.size // 2
    zero.write_bytes((root / "faststart.mp4").read_bytes()[:cut])
    (root / "faststart.mp4").unlink()
    expected = {
        "good.mp4": ("ok", ""),
        "short.mp4": ("too_short", ""),
        "bad/whole.mp4": ("ok", ""),  # the complete original of bad/truncated.mp4
        "bad/empty.mp4": ("unreadable", ""),
        "bad/truncated.mp4": ("unreadable", ""),
        "bad/text.mp4": ("unreadable", ""),
        "zero.mp4": ("zero_frames", ""),
        "rotated90.mp4": ("odd", "rotated"),
        "two_streams.mp4": ("odd", "several_streams"),
        "vfr.mkv": ("odd", "variable_rate"),
        "tenbit.mp4": ("odd", "high_bit_depth"),
        "truncated.mp4": ("odd", "truncated"),
        "editlist.mp4": ("odd", "header_count"),
    }
    rotated(root, 90), two_streams(root), variable_rate(root, ".mkv"), ten_bit(root), truncated(root, ".mp4")
    edit_list(root)
    (root / "whole.mp4").unlink()
    assert set(bad) == {"empty", "truncated", "text"}
    return root, expected


def run(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    configure_check(parser)
    run_check(parser.parse_args(argv))


def read_report(path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as f:
        return {row["path"]: row for row in csv.DictReader(f)}


def test_a_folder_scan_reports_each_kind_of_problem(dataset, tmp_path, capsys):
    root, expected = dataset
    out = tmp_path / "report.csv"
    run([str(root), "--num-frames", "4", "--sampling-rate", "8", "--workers", "2", "--out", str(out)])
    report = read_report(out)
    assert set(report) == {path for path, (status, _) in expected.items() if status != "ok"}
    for path, (status, flag) in expected.items():
        if status == "ok":
            continue
        assert report[path]["status"] == status, (path, report[path])
        assert flag in report[path]["flags"].split(";"), (path, report[path]["flags"])
    assert "empty file" in report["bad/empty.mp4"]["reason"]
    assert report["short.mp4"]["frames"] == "20" and "a clip spans 25" in report["short.mp4"]["reason"]
    assert report["rotated90.mp4"]["width"] == "96" and report["rotated90.mp4"]["height"] == "160"
    assert report["two_streams.mp4"]["video_streams"] == "2"
    assert report["tenbit.mp4"]["bit_depth"] == "10"
    assert "pyav_only" in report["truncated.mp4"]["flags"]  # decord cannot open it; PyAV reads what exists
    assert "header_count" not in report["truncated.mp4"]["flags"]  # said by "truncated" already
    assert "counts 90 frames where 60 are shown" in report["editlist.mp4"]["reason"]
    printed = capsys.readouterr().out
    assert f"{len(expected)} videos checked" in printed
    counts = {status: sum(s == status for s, _ in expected.values()) for status in ("unreadable", "odd", "ok")}
    for status, count in counts.items():
        assert f"{status:12s} {count:7d}" in printed
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_the_target_rate_decides_what_is_too_short(dataset):
    root, _ = dataset
    # 20 frames at 10 fps (0 .. 1.9 s) are 58 instants at 30 fps; an 8 x 8 clip spans 57.
    assert check_video(str(root / "short.mp4"), span=57).status == "too_short"
    resampled = check_video(str(root / "short.mp4"), span=57, target_fps=30)
    assert resampled.status == "ok" and resampled.frames == 20
    assert check_video(str(root / "short.mp4"), span=59, target_fps=30).status == "too_short"


def test_a_list_file_needs_its_video_root_and_reports_missing_videos(dataset, tmp_path):
    root, _ = dataset
    listing = tmp_path / "list.txt"
    write_list(listing, [("good.mp4", 0), ("gone.mp4", 1)])
    with pytest.raises(CheckError, match="give --video-root"):
        run([str(listing)])
    with pytest.raises(CheckError, match="no such list file or folder"):
        run([str(tmp_path / "nothing.txt")])
    out = tmp_path / "all.csv"
    run([str(listing), "--video-root", str(root), "--workers", "1", "--all", "--out", str(out)])
    report = read_report(out)
    assert report["good.mp4"]["status"] == "ok" and report["good.mp4"]["frames"] == "80"
    assert report["gone.mp4"]["status"] == "unreadable" and report["gone.mp4"]["reason"] == "file not found"
    assert np.isclose(float(report["good.mp4"]["fps"]), 25.0)


@pytest.mark.needs_torchcodec
def test_with_torchcodec_pyav_only_means_torchcodec_cannot_decode_it(dataset, tmp_path):
    root, expected = dataset
    out = tmp_path / "report.csv"
    run([str(root), "--num-frames", "4", "--workers", "1", "--all", "--backend", "torchcodec", "--out", str(out)])
    report = read_report(out)
    for path, (status, flag) in expected.items():
        assert report[path]["status"] == status and flag in report[path]["flags"].split(";"), (path, report[path])
    # torchcodec is told which stream to decode (decord cannot be), so two streams are no reason for PyAV.
    assert "pyav_only" not in report["two_streams.mp4"]["flags"]
    assert "pyav_only" in check_video(str(root / "two_streams.mp4"), span=4).flags  # decord, the default
    for row in report.values():
        if "pyav_only" in row["flags"]:
            assert "(torchcodec: " in row["reason"] and "decord" not in row["reason"], row


def test_check_with_torchcodec_missing_is_one_config_error(dataset, tmp_path, monkeypatch):
    root, _ = dataset
    monkeypatch.setattr(decoding, "_torchcodec_loaded", "it cannot be imported (simulated)")
    with pytest.raises(ConfigError, match="a2video\\[torchcodec\\]"):
        run([str(root), "--backend", "torchcodec", "--out", str(tmp_path / "r.csv")])
    assert not (tmp_path / "r.csv").exists()
