"""Two-process DDP on the CPU (gloo), launched as the ``a2video`` command in a subprocess.

One rank fails mid-epoch: the run must stop (not wait forever for it) with ``interrupted.ckpt``;
the same command then resumes and finishes. The ranks train on disjoint videos, every epoch,
across the resume. ``test`` under DDP gathers the views of both ranks: every test video appears
once, with the logits a single-process test of the same checkpoint computes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from a2video.data.lists import read_list
from engine_helpers import expected_batchnorm_statistics, load_checkpoint, run_ok, tiny_config, write_config

HERE = Path(__file__).resolve().parent
DDP = ["--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu"]
EPOCHS = 2
PER_RANK_BATCH = 2
# 10 training videos over 2 ranks: 5 each, batches of 2 with the last one dropped.
STEPS_PER_EPOCH = 2


def _a2video(*args, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-m", "a2video", *map(str, args)], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the launcher and its rank-1 child
        output, _ = process.communicate()
        pytest.fail(f"a2video {' '.join(map(str, args))} did not finish in {timeout} s:\n{output[-3000:]}")
    return subprocess.CompletedProcess(process.args, process.returncode, output)


def _labels(folder: Path, rank: int) -> list[dict]:
    return [json.loads(line) for line in (folder / f"labels_rank{rank}.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def ddp_run(synthetic, tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    run_dir = root / "run"
    raw = tiny_config(synthetic.source, run_dir, epochs=EPOCHS)
    raw["data"]["batch_size"] = PER_RANK_BATCH
    raw["model"]["reference_batch_size"] = 2 * PER_RANK_BATCH
    config = write_config(root / "ddp.yaml", raw)

    def record(folder: Path) -> list[str]:
        folder.mkdir()
        return ["--trainer.callbacks+=engine_helpers.RecordTrainLabels", f"--trainer.callbacks.folder={folder}"]

    crashed = _a2video("fit", "--config", config, *DDP, *record(root / "first"),
                       "--trainer.callbacks+=engine_helpers.CrashOnRank", "--trainer.callbacks.rank=1",
                       "--trainer.callbacks.step=1")
    resumed = _a2video("fit", "--config", config, *DDP, *record(root / "second"))
    return root, run_dir, config, crashed, resumed


def test_a_failing_rank_stops_the_run_with_a_checkpoint(ddp_run):
    _, run_dir, _, crashed, _ = ddp_run
    assert crashed.returncode != 0
    assert "test crash on rank 1 after step 1" in crashed.stdout
    interrupted = load_checkpoint(run_dir / "checkpoints" / "interrupted.ckpt")
    assert interrupted["global_step"] == 1


def test_rerun_resumes_and_ranks_see_disjoint_data(ddp_run):
    root, run_dir, _, _, resumed = ddp_run
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert "resuming from" in resumed.stdout and "interrupted.ckpt" in resumed.stdout
    last = load_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert last["global_step"] == EPOCHS * STEPS_PER_EPOCH
    total = EPOCHS * STEPS_PER_EPOCH
    records = {}
    for rank in (0, 1):
        first, second = _labels(root / "first", rank), _labels(root / "second", rank)
        assert [r["step"] for r in second] == list(range(1, total)), f"rank {rank} did not continue at step 1"
        # Rank 0 may have started step 1 before rank 1 failed; the rerun gave it the same batch.
        assert [r["step"] for r in first] in ([0], [0, 1]), rank
        if len(first) == 2:
            assert first[1] == second[0]
        records[rank] = first[:1] + second
    for epoch in range(EPOCHS):
        seen = {rank: [x for r in records[rank] if r["epoch"] == epoch for x in r["labels"]] for rank in (0, 1)}
        for rank in (0, 1):
            assert len(seen[rank]) == STEPS_PER_EPOCH * PER_RANK_BATCH
            assert len(set(seen[rank])) == len(seen[rank]), f"rank {rank} saw a video twice in epoch {epoch}"
        assert not set(seen[0]) & set(seen[1]), f"ranks shared videos in epoch {epoch}"


def test_ddp_test_gathers_every_video_once(ddp_run, synthetic, tmp_path):
    _, run_dir, config, _, resumed = ddp_run
    assert resumed.returncode == 0
    last = run_dir / "checkpoints" / "last.ckpt"
    result = _a2video("test", "--config", config, *DDP, "--ckpt_path", last)
    assert result.returncode == 0, result.stdout[-3000:]
    single = tmp_path / "single"
    run_ok("test", "--config", config, "--ckpt_path", last, "--model.eval_dir", single)

    ddp_out = run_dir / "test"
    ddp_metrics = json.loads((ddp_out / "metrics.json").read_text())
    single_metrics = json.loads((single / "metrics.json").read_text())
    listed = [path for path, _ in read_list(synthetic.source.test_list)]
    ddp_rows = (ddp_out / "predictions.csv").read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in ddp_rows] == listed  # each test video once, in list order
    assert ddp_metrics["num_videos"] == len(listed) == single_metrics["num_videos"]
    a, b = np.load(ddp_out / "view_logits.npz"), np.load(single / "view_logits.npz")
    assert np.array_equal(a["video_index"], b["video_index"]) and np.array_equal(a["labels"], b["labels"])
    np.testing.assert_allclose(a["logits"], b["logits"], rtol=1e-4, atol=1e-5)
    for key in ("clip_top1", "clip_top5", "video_top1", "video_top5", "mean_class_accuracy"):
        assert ddp_metrics[key] == pytest.approx(single_metrics[key]), key


def test_ddp_precise_bn_averages_the_ranks_statistics(ddp_run, tmp_path):
    """Each rank averages its own training batches' statistics, then the ranks average theirs:
    both ranks validate with the mean over both ranks' batches."""
    _, run_dir, config, _, resumed = ddp_run
    assert resumed.returncode == 0
    last = run_dir / "checkpoints" / "last.ckpt"
    dump = tmp_path / "dump"
    dump.mkdir()
    result = _a2video("validate", "--config", config, *DDP, "--ckpt_path", last, "--precise_bn.num_batches", 2,
                      "--trainer.default_root_dir", tmp_path / "v",
                      "--trainer.callbacks+=engine_helpers.DumpBatchNorm", f"--trainer.callbacks.folder={dump}")
    assert result.returncode == 0, result.stdout[-3000:]
    saved = [torch.load(dump / f"validate_rank{rank}.pt") for rank in (0, 1)]
    epoch = saved[0]["epoch"]
    both = expected_batchnorm_statistics(config, last, epoch=epoch, world_size=2, num_batches=2)
    rank0 = expected_batchnorm_statistics(config, last, epoch=epoch, world_size=2, num_batches=2, ranks=[0])
    assert any(not torch.allclose(both[name][1], rank0[name][1], rtol=1e-3) for name in both), "ranks differ"
    for rank in (0, 1):
        for name, (mean, var) in saved[rank]["stats"].items():
            np.testing.assert_allclose(mean.numpy(), both[name][0].numpy(), rtol=1e-4, atol=1e-5, err_msg=name)
            np.testing.assert_allclose(var.numpy(), both[name][1].numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


def _logged(output: str, key: str) -> float:
    import re

    match = re.search(rf"{re.escape(key)}\s+([0-9.]+)", output)
    assert match, f"{key} not printed:\n{output[-3000:]}"
    return float(match.group(1))


def test_ddp_validation_accuracy_weights_ranks_by_their_videos(ddp_run, synthetic, tmp_path):
    """5 val videos on 2 ranks (3 + 2): the logged accuracy is the mean over the 5, as on one process."""
    from a2video.data.lists import write_list

    _, run_dir, config, _, resumed = ddp_run
    assert resumed.returncode == 0
    samples = read_list(synthetic.source.test_list) + read_list(synthetic.source.val_list)
    uneven = tmp_path / "val5.txt"
    write_list(uneven, samples[:5])
    last = run_dir / "checkpoints" / "last.ckpt"
    args = ["validate", "--config", config, "--ckpt_path", last, "--data.val_list", uneven,
            "--data.classes_file", synthetic.source.classes_file, "--trainer.default_root_dir", tmp_path / "v"]
    ddp = _a2video(*args, *DDP)
    assert ddp.returncode == 0, ddp.stdout[-3000:]
    single = _a2video(*args)
    assert single.returncode == 0, single.stdout[-3000:]
    for key in ("val/clip_top1", "val/clip_top5", "val/loss"):
        assert _logged(ddp.stdout, key) == pytest.approx(_logged(single.stdout, key), rel=1e-4, abs=1e-4), key
