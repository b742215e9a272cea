"""``a2video test`` on odd real-world files: the same videos fail (or not) whatever the worker count.

The issue this guards against: a truncated MP4 was reported failed with ``num_workers: 1`` and
fine, with frozen frames, with ``num_workers: 0``, because PyAV's outcome depended on its thread
count. The frame content of these files is checked in tests/data/test_odd_videos.py.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import av

from a2video.data.lists import write_list
from engine_helpers import run_ok
from odd_videos import edit_list, rotated, truncated, two_streams, variable_rate


def test_odd_files_get_the_same_outcome_with_and_without_loader_workers(source_run, tmp_path):
    av.logging.set_level(av.logging.PANIC)
    videos = tmp_path / "videos"
    videos.mkdir()
    made = [rotated(videos, 90), edit_list(videos), truncated(videos, ".mp4"), truncated(videos, ".mkv"),
            two_streams(videos), variable_rate(videos, ".mp4")]  # fmt: skip
    (videos / "empty.mp4").write_bytes(b"")
    names = [video.path.name for video in made] + ["empty.mp4"]
    lists = tmp_path / "lists"
    write_list(lists / "test.txt", [(name, number % 10) for number, name in enumerate(names)])
    shutil.copy(Path(source_run.dataset.classes_file), lists / "classes.txt")
    outcomes = {}
    for workers in (0, 1):
        out = tmp_path / f"workers{workers}"
        run_ok("test", "--config", source_run.config, "--ckpt_path", source_run.last, "--data.video_root", videos,
               "--data.test_list", lists / "test.txt", "--data.classes_file", lists / "classes.txt",
               "--data.num_workers", workers, "--model.eval_dir", out)  # fmt: skip
        with open(out / "predictions.csv", newline="") as f:
            outcomes[workers] = {row["path"]: row["status"] for row in csv.DictReader(f)}
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["num_videos"] == len(names) and metrics["num_failed_videos"] == 1
    assert outcomes[0] == outcomes[1]
    assert all(outcomes[0][name] == "ok" for name in names[:-1])
    assert outcomes[0]["empty.mp4"].startswith("failed: ") and "empty file" in outcomes[0]["empty.mp4"]
