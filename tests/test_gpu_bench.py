"""``tools/gpu_bench.sh`` in its CPU smoke mode: every part runs and leaves its results behind.

The script is what a session with a GPU runs in one go (issue 14 item 4); here each of its three
benchmarks runs at toy sizes on the CPU, so a broken option or a renamed flag shows up before a
GPU lease is spent on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def loader_benchmark_can_run() -> bool:
    """bench_loader.py either picks its loaders (--loaders) or needs pytorchvideo for its reference."""
    usage = subprocess.run([sys.executable, "tools/bench_loader.py", "--help"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout
    if "--loaders" in usage:
        return True
    try:
        import pytorchvideo  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.slow
def test_gpu_bench_smoke_mode_runs_every_part(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "A2VIDEO_BENCH_SMOKE": "1", "PYTHON": sys.executable}
    run = subprocess.run(["bash", "tools/gpu_bench.sh", str(out)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=600)
    summary = (out / "gpu_bench.md").read_text()
    assert run.returncode == 0, run.stdout + run.stderr
    assert "- 1. bench_train: done" in summary, summary
    assert "- 2. bench_attention: done" in summary, summary
    if loader_benchmark_can_run():
        assert "- 3. bench_loader: done" in summary, summary
        assert "| a2video |" in summary  # its table made it into the summary
    else:
        assert "- 3. bench_loader: SKIPPED" in summary, summary

    train = json.loads((out / "train.json").read_text())
    measured = {(row["mode"], row["model"]) for row in train["rows"]}
    assert measured == {(mode, model) for mode in ("eager", "compiled") for model in ("i3d_r26", "a2net_r26")}
    assert all(row["clips_per_s"] > 0 for row in train["rows"])
    assert "| 32 | compiled | a2net_r26 |" in summary  # the table rendered from train.json

    attention = json.loads((out / "attention.json").read_text())
    assert attention["a"]["4"]["a2_left"]["status"] == "ok"
    assert {key.split("/")[0] for key in attention["b"]} == {"a2_left"}
    assert all(point["status"] == "ok" and point["times_s"] for point in attention["b"].values())
