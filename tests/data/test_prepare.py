"""`a2video prepare`: re-encoded videos keep every frame in order, lists follow, and no
interruption (Ctrl-C, kill, full disk) leaves a half-written file under a final name."""

from __future__ import annotations

import argparse
import csv
import errno
import os
import signal
import multiprocessing
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from a2video.preparation import prepare as prepare_module
from a2video.preparation import transcode as transcode_module
from a2video.data.encoding import write_video
from a2video.data.lists import read_classes, read_list, write_classes, write_list
from a2video.commands.prepare import configure_prepare, run_prepare
from a2video.preparation.prepare import PrepareError, prepare_dataset
from a2video.preparation.transcode import PrepareSettings, output_size
from a2video.files import is_temporary
from video_codes import coded_frames, read_codes


def decode_all(path: Path) -> tuple[np.ndarray, Fraction, list[int], int]:
    """Frames (F, H, W, 3), frame rate, indices of key-frame packets, number of audio streams."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate, audio = stream.average_rate, len(container.streams.audio)
        keys = [i for i, packet in enumerate(p for p in container.demux(stream) if p.size) if packet.is_keyframe]
    with av.open(str(path)) as container:
        frames = np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])
    return frames, rate, keys, audio


def write_with_audio(path: Path, frames: np.ndarray, fps: Fraction) -> None:
    """An mp4 with a video and an AAC audio stream, as downloaded clips have."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        video.codec_context.gop_size = 250  # far apart, like YouTube
        audio = container.add_stream("aac", rate=16000)
        for frame in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        for k in range(8):
            sound = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            sound.sample_rate, sound.pts = 16000, k * 1024
            container.mux(audio.encode(sound))
        container.mux(video.encode(None))
        container.mux(audio.encode(None))


def args_for(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure_prepare(parser)
    return parser.parse_args([*argv, "--no-progress"])


def temporaries(root: Path) -> list[Path]:
    return [path for path in root.rglob(".*") if is_temporary(path.name)]


def test_output_size_scales_down_to_even_sizes_never_up():
    assert output_size(720, 1280, 320) == (320, 568)
    assert output_size(1080, 1920, 320) == (320, 568)
    assert output_size(1280, 720, 320) == (568, 320)  # portrait
    assert output_size(240, 320, 320) == (240, 320)  # smaller than the short side: kept
    assert output_size(480, 854, 256) == (256, 456)


@pytest.fixture
def raw_tree(tmp_path):
    """Two classes: a 96x256 video with audio at 30000/1001 fps, a 48x128 one, a 30x64 one (smaller than 48)."""
    root = tmp_path / "raw"
    write_with_audio(root / "wave" / "a.mp4", coded_frames(70, 96, 256), Fraction(30000, 1001))
    write_video(root / "wave" / "b.mkv", coded_frames(45, 48, 128), fps=12, gop_size=100)
    write_video(root / "walk" / "c d.avi", coded_frames(33, 32, 64), fps=25)
    return root


def test_prepare_tree_keeps_frames_order_rate_and_drops_audio(raw_tree, tmp_path, capsys):
    dst = tmp_path / "prepared"
    run_prepare(args_for(str(raw_tree), str(dst), "--short-side", "48", "--gop", "8", "--workers", "1"))
    out = capsys.readouterr().out
    assert "prepared 3 videos" in out and "0 done by an earlier run" in out

    expected = {
        "wave/a.mp4": (70, (48, 128), Fraction(30000, 1001)),
        "wave/b.mp4": (45, (48, 128), Fraction(12)),
        "walk/c d.mp4": (33, (32, 64), Fraction(25)),  # not scaled up
    }
    for name, (count, size, rate) in expected.items():
        frames, frame_rate, keys, audio = decode_all(dst / name)
        assert frames.shape[:3] == (count, *size)
        np.testing.assert_array_equal(read_codes(frames), np.arange(count))  # every frame, display order
        assert frame_rate == rate
        assert audio == 0
        assert keys[0] == 0 and max(np.diff(keys + [count])) <= 8  # a seek decodes at most --gop frames
    assert read_classes(dst / "classes.txt") == ["walk", "wave"]
    assert read_list(dst / "all.txt", 2) == [("walk/c d.mp4", 0), ("wave/a.mp4", 1), ("wave/b.mp4", 1)]
    assert temporaries(dst) == []
    with open(dst / "prepare_report.csv", newline="") as handle:
        assert list(csv.DictReader(handle)) == []


def test_prepare_lists_report_bad_and_short_inputs_and_rewrite_lists(tmp_path):
    raw = tmp_path / "raw"
    write_video(raw / "good1.avi", coded_frames(40), fps=25)
    write_video(raw / "good2.mp4", coded_frames(40), fps=25)
    write_video(raw / "short.mp4", coded_frames(6), fps=25)
    write_video(raw / "good1.mkv", coded_frames(20), fps=25)  # becomes good1.mkv.mp4 beside good1.mp4 (issue 23)
    (raw / "text.mp4").write_text("not a video\n")
    good = (raw / "good2.mp4").read_bytes()
    (raw / "truncated.mp4").write_bytes(good[: len(good) // 3])
    lists = tmp_path / "lists"
    write_classes(lists / "classes.txt", ["a", "b"])
    write_list(lists / "train.txt", [("good1.avi", 0), ("text.mp4", 1), ("short.mp4", 0), ("gone.mp4", 1)])
    write_list(lists / "val.txt", [("good2.mp4", 1), ("truncated.mp4", 0), ("good1.mkv", 1)])
    dst = tmp_path / "prepared"

    summary = prepare_dataset(raw, dst, PrepareSettings(short_side=32), lists=[str(lists / "train.txt"), str(lists / "val.txt")],
                              min_frames=10, progress=False)  # fmt: skip

    assert summary.prepared == 3
    with open(dst / "prepare_report.csv", newline="") as handle:
        report = {row["path"]: row for row in csv.DictReader(handle)}
    assert set(report) == {"text.mp4", "short.mp4", "gone.mp4", "truncated.mp4"}
    assert report["short.mp4"]["status"] == "too_short" and report["short.mp4"]["frames"] == "6"
    assert report["text.mp4"]["status"] == "unreadable" and "cannot open" in report["text.mp4"]["reason"]
    assert report["gone.mp4"]["status"] == "unreadable"
    assert report["truncated.mp4"]["status"] in ("unreadable", "too_short")
    assert summary.left_out in ({"unreadable": 3, "too_short": 1}, {"unreadable": 2, "too_short": 2})
    assert read_classes(dst / "classes.txt") == ["a", "b"]
    assert read_list(dst / "train.txt") == [("good1.avi.mp4", 0)]  # good1.avi and good1.mkv keep their suffixes
    assert read_list(dst / "val.txt") == [("good2.mp4", 1), ("good1.mkv.mp4", 1)]  # not good1.mkv as good1.mp4
    assert read_list(dst / "missing_val.txt") == [("truncated.mp4", 0)]
    assert read_list(dst / "missing_train.txt") == [("text.mp4", 1), ("short.mp4", 0), ("gone.mp4", 1)]
    assert sorted(p.name for p in dst.iterdir() if p.suffix == ".mp4") == ["good1.avi.mp4", "good1.mkv.mp4", "good2.mp4"]


def test_second_run_skips_finished_videos(raw_tree, tmp_path):
    dst = tmp_path / "prepared"
    settings = PrepareSettings(short_side=48, gop=8)
    assert prepare_dataset(raw_tree, dst, settings, progress=False).prepared == 3
    kept = {name: (dst / name).stat().st_ino for name in ("wave/a.mp4", "walk/c d.mp4")}
    (dst / "wave" / "b.mp4").unlink()

    again = prepare_dataset(raw_tree, dst, settings, progress=False)
    assert (again.prepared, again.already_done) == (1, 2)
    assert {name: (dst / name).stat().st_ino for name in kept} == kept  # not rewritten
    assert len(read_codes(decode_all(dst / "wave" / "b.mp4")[0])) == 45


def test_destination_checks(raw_tree, tmp_path):
    dst = tmp_path / "prepared"
    prepare_dataset(raw_tree, dst, PrepareSettings(short_side=48), progress=False)
    with pytest.raises(PrepareError, match="prepared with .*'short_side': 48.*not.*'short_side': 64"):
        prepare_dataset(raw_tree, dst, PrepareSettings(short_side=64), progress=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(PrepareError, match="is not empty and has no prepare.json"):
        prepare_dataset(raw_tree, tmp_path / "other", PrepareSettings(), progress=False)
    with pytest.raises(PrepareError, match="must not contain each other"):
        prepare_dataset(raw_tree, raw_tree / "prepared", PrepareSettings(), progress=False)
    with pytest.raises(PrepareError, match="does not exist"):
        prepare_dataset(tmp_path / "nope", tmp_path / "new", PrepareSettings(), progress=False)
    with pytest.raises(PrepareError, match="--preset must be one of"):
        run_prepare(args_for(str(raw_tree), str(tmp_path / "new"), "--preset", "quick"))


def test_a_second_run_on_the_same_destination_is_refused(raw_tree, tmp_path):
    dst = tmp_path / "prepared"
    prepare_dataset(raw_tree, dst, PrepareSettings(short_side=48), progress=False)
    holder = prepare_module._lock(dst)
    try:
        with pytest.raises(PrepareError, match="another a2video prepare is writing to"):
            prepare_dataset(raw_tree, dst, PrepareSettings(short_side=48), progress=False)
    finally:
        holder.close()


def test_full_disk_stops_the_run_and_the_next_run_continues(raw_tree, tmp_path, monkeypatch, capsys):
    dst = tmp_path / "prepared"
    real_transcode = transcode_module.transcode
    calls = []

    def disk_fills_on_second_video(source, target, settings, *rest):
        calls.append(target)
        if len(calls) == 2:
            target.write_bytes(b"\x00" * 1000)  # part of a video, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
        return real_transcode(source, target, settings, *rest)

    monkeypatch.setattr(transcode_module, "transcode", disk_fills_on_second_video)
    argv = [str(raw_tree), str(dst), "--short-side", "48", "--workers", "1"]
    with pytest.raises(PrepareError, match="the disk is full: writing .*No space left on device.*run the same command again"):
        run_prepare(args_for(*argv))
    assert temporaries(dst) == []
    finals = sorted(path.relative_to(dst).as_posix() for path in dst.rglob("*.mp4"))
    assert finals == ["walk/c d.mp4"]  # the first video (sorted order), whole
    assert len(decode_all(dst / finals[0])[0]) == 33
    assert not (dst / "all.txt").exists()  # lists only once every input is handled

    monkeypatch.setattr(transcode_module, "transcode", real_transcode)
    run_prepare(args_for(*argv))
    assert "prepared 2 videos" in capsys.readouterr().out
    assert len(read_list(dst / "all.txt")) == 3


def prepare_in_child(argv: list[str], log: Path) -> None:
    """A forked `a2video prepare` (a fresh interpreter would spend most of the test importing torch)."""
    sys.stdout = sys.stderr = open(log, "w", buffering=1)
    try:
        run_prepare(args_for(*argv))
    except KeyboardInterrupt:
        sys.exit(130)


def wait_for_workers_to_exit(dst: Path) -> None:
    """After a SIGKILL the orphaned workers get SIGTERM from the kernel and exit, releasing the lock."""
    deadline = time.monotonic() + 30
    while True:
        try:
            prepare_module._lock(dst).close()
            return
        except PrepareError:
            assert time.monotonic() < deadline, "workers outlived the killed main process"
            time.sleep(0.05)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_interrupted_run_leaves_no_half_written_video_and_resumes(tmp_path, stop):
    raw = tmp_path / "raw"
    for number in range(6):
        write_video(raw / "c" / f"v{number}.mp4", coded_frames(150, 96, 256), fps=25, gop_size=250)
    dst = tmp_path / "prepared"
    argv = [str(raw), str(dst), "--short-side", "48", "--workers", "2", "--preset", "medium"]
    log = tmp_path / "log.txt"
    process = multiprocessing.get_context("fork").Process(target=prepare_in_child, args=(argv, log))
    process.start()
    deadline = time.monotonic() + 120
    # Wait until a worker is writing a video (not prepare.json, which is written first).
    while not list(dst.rglob(".*.tmp.mp4")) and process.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.is_alive(), "the run ended before it could be interrupted"
    os.kill(process.pid, stop)
    process.join(timeout=60)
    if stop != signal.SIGKILL:
        assert process.exitcode == 130, log.read_text()
        assert "Traceback" not in log.read_text()
        assert "interrupted; finished videos are kept" in log.read_text()
        assert temporaries(dst) == []  # the workers removed their files
        assert (dst / "prepare_report.csv").exists()

    else:
        wait_for_workers_to_exit(dst)

    finished = sorted(dst.rglob("*.mp4"))
    assert len(finished) < 6
    for path in finished:  # whatever has a final name is whole
        np.testing.assert_array_equal(read_codes(decode_all(path)[0]), np.arange(150))

    summary = prepare_dataset(raw, dst, PrepareSettings(short_side=48, preset="medium"), progress=False)
    assert summary.prepared == 6 - len(finished) and summary.already_done == len(finished)
    assert temporaries(dst) == []
    assert len(read_list(dst / "all.txt")) == 6
