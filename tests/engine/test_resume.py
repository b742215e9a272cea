"""Exact resume: a run interrupted and resumed ends with the weights of one that never stopped.

Run A trains 3 epochs (6 steps) uninterrupted. The others crash (a callback raises after a given
step, so InterruptCheckpoint writes ``interrupted.ckpt``) and are started again: the same command
(automatic resume), ``--ckpt_path``, or, as after a killed process, from ``last.ckpt`` alone. A
trace callback records what every step saw (step, epoch, batch labels, learning rate, the RNG that
dropout draws from), so a mismatch says where the runs diverge.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from a2video.cli import main
from a2video.engine.runtime import cpu_threads
from engine_helpers import STEPS_PER_EPOCH, load_checkpoint, run_ok, tiny_config, write_config

EPOCHS = 3
TOTAL_STEPS = EPOCHS * STEPS_PER_EPOCH
# Every run here gets the compute threads of an idle machine without loader workers: another count
# (other work on the machine, a loader worker) rounds differently, which a few steps at this
# learning rate amplify.
THREADS = cpu_threads(0) or torch.get_num_threads()


def _tiny(*args, **kwargs) -> dict:
    return {**tiny_config(*args, **kwargs), "threads": THREADS}


class CrashAfter(pl.Callback):
    """Raise once ``global_step`` reaches ``step`` (after that optimiser step)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            raise RuntimeError(f"test crash after step {trainer.global_step}")


def _trace(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _callbacks(*specs: tuple[str, str, object]) -> list[str]:
    args = []
    for cls, key, value in specs:
        module = "engine_helpers" if cls == "TraceSteps" else __name__
        args += [f"--trainer.callbacks+={module}.{cls}", f"--trainer.callbacks.{key}={value}"]
    return args


def _fit_crashing(config: Path, trace: Path, crash_step: int) -> None:
    with pytest.raises(RuntimeError, match=f"test crash after step {crash_step}"):
        main(["fit", "--config", str(config),
              *_callbacks(("CrashAfter", "step", crash_step), ("TraceSteps", "path", trace))])


def _assert_same_weights(a: Path, b: Path) -> None:
    sa, sb = load_checkpoint(a)["state_dict"], load_checkpoint(b)["state_dict"]
    assert sa.keys() == sb.keys()
    different = [k for k in sa if not torch.equal(sa[k], sb[k])]
    assert not different, f"{len(different)} tensors differ, first {different[0]}"


@pytest.fixture(scope="module")
def uninterrupted(synthetic, tmp_path_factory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("resume_a")
    config = write_config(root / "a.yaml", _tiny(synthetic.source, root / "run", epochs=EPOCHS))
    trace = root / "trace.jsonl"
    run_ok("fit", "--config", config, *_callbacks(("TraceSteps", "path", trace)))
    last = root / "run" / "checkpoints" / "last.ckpt"
    state = load_checkpoint(last)
    assert state["global_step"] == TOTAL_STEPS
    records = _trace(trace)
    assert [r["step"] for r in records] == list(range(TOTAL_STEPS))
    # Each epoch visits a new order of the training videos (one video per label).
    for epoch in range(EPOCHS):
        labels = sum((r["labels"] for r in records if r["epoch"] == epoch), [])
        assert len(set(labels)) == len(labels) == STEPS_PER_EPOCH * 4
    return last, records


@pytest.mark.parametrize("crash_step, workers", [(3, 0), (2, 0), (3, 1)],
                         ids=["mid-epoch", "epoch-end", "mid-epoch-1-worker"])
def test_rerun_resumes_exactly(uninterrupted, synthetic, tmp_path, capsys, crash_step, workers):
    """With a loader worker too: clips and augmentation do not depend on who loads them."""
    last_a, trace_a = uninterrupted
    run_dir = tmp_path / "run"
    raw = _tiny(synthetic.source, run_dir, epochs=EPOCHS)
    raw["data"]["num_workers"] = workers
    config = write_config(tmp_path / "b.yaml", raw)
    trace = tmp_path / "trace.jsonl"
    _fit_crashing(config, trace, crash_step)
    interrupted = load_checkpoint(run_dir / "checkpoints" / "interrupted.ckpt")
    assert interrupted["global_step"] == crash_step
    capsys.readouterr()

    run_ok("fit", "--config", config, *_callbacks(("TraceSteps", "path", trace)))  # the same command
    assert f"resuming from {run_dir / 'checkpoints' / 'interrupted.ckpt'}" in capsys.readouterr().err
    trace_b = _trace(trace)
    # The first launch stopped after crash_step steps; the second continued from there.
    assert [r["step"] for r in trace_b] == list(range(crash_step)) + list(range(crash_step, TOTAL_STEPS))
    assert trace_b == trace_a, "resumed run saw other batches, rates or random numbers"
    final = load_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert final["global_step"] == TOTAL_STEPS and final["epoch"] == load_checkpoint(last_a)["epoch"]
    _assert_same_weights(last_a, run_dir / "checkpoints" / "last.ckpt")
    opt_a = load_checkpoint(last_a)["optimizer_states"][0]["state"]
    opt_b = final["optimizer_states"][0]["state"]
    assert all(torch.equal(opt_a[i]["momentum_buffer"], opt_b[i]["momentum_buffer"]) for i in opt_a)


def test_explicit_ckpt_path_resumes_exactly(uninterrupted, synthetic, tmp_path):
    last_a, trace_a = uninterrupted
    first, second = tmp_path / "first", tmp_path / "second"
    config = write_config(tmp_path / "c.yaml", _tiny(synthetic.source, first, epochs=EPOCHS))
    trace = tmp_path / "trace.jsonl"
    _fit_crashing(config, trace, 5)
    # Continue in another folder from the interrupted run's checkpoint.
    run_ok("fit", "--config", config, "--trainer.default_root_dir", second,
           "--ckpt_path", first / "checkpoints" / "interrupted.ckpt", *_callbacks(("TraceSteps", "path", trace)))
    assert _trace(trace) == trace_a
    _assert_same_weights(last_a, second / "checkpoints" / "last.ckpt")


def test_killed_run_resumes_from_last_epoch_checkpoint(uninterrupted, synthetic, tmp_path, monkeypatch):
    """Without interrupted.ckpt (a killed process writes none), the rerun starts from last.ckpt,
    which follows every epoch, and still ends where the uninterrupted run did."""
    last_a, trace_a = uninterrupted
    run_dir = tmp_path / "run"
    config = write_config(tmp_path / "d.yaml", _tiny(synthetic.source, run_dir, epochs=EPOCHS))
    trace = tmp_path / "trace.jsonl"
    _fit_crashing(config, trace, 5)
    (run_dir / "checkpoints" / "interrupted.ckpt").unlink()
    assert load_checkpoint(run_dir / "checkpoints" / "last.ckpt")["global_step"] == 2 * STEPS_PER_EPOCH
    tested = []  # the file's CRCs are read once, by the search for a checkpoint to resume from
    original = zipfile.ZipFile.testzip
    monkeypatch.setattr(zipfile.ZipFile, "testzip", lambda self: tested.append(self.filename) or original(self))
    run_ok("fit", "--config", config, *_callbacks(("TraceSteps", "path", trace)))
    assert tested.count(str(run_dir / "checkpoints" / "last.ckpt")) == 1
    # Step 4 (the one after the last epoch checkpoint) was done twice: once before the crash.
    steps = [r["step"] for r in _trace(trace)]
    assert steps == list(range(5)) + list(range(4, TOTAL_STEPS))
    assert _trace(trace)[5:] == trace_a[4:]
    _assert_same_weights(last_a, run_dir / "checkpoints" / "last.ckpt")


def test_last_checkpoint_follows_every_epoch_without_validation(synthetic, tmp_path):
    """With no val list nothing ranks a best checkpoint; last.ckpt must still be written each epoch
    (Lightning's save_last alone would write it at the end of training only)."""
    run_dir = tmp_path / "run"
    config = write_config(tmp_path / "e.yaml", _tiny(synthetic.source, run_dir, epochs=EPOCHS, val=False))
    _fit_crashing(config, tmp_path / "trace.jsonl", STEPS_PER_EPOCH + 1)
    assert load_checkpoint(run_dir / "checkpoints" / "last.ckpt")["global_step"] == STEPS_PER_EPOCH
    assert not list((run_dir / "checkpoints").glob("best-*"))


def test_resume_never_starts_over(synthetic, tmp_path, capsys):
    run_dir = tmp_path / "run"
    config = write_config(tmp_path / "f.yaml", _tiny(synthetic.source, run_dir, epochs=1, val=False))
    run_ok("fit", "--config", config)
    capsys.readouterr()
    trace = tmp_path / "trace.jsonl"
    run_ok("fit", "--config", config, "--resume", "never", *_callbacks(("TraceSteps", "path", trace)))
    assert "resuming" not in capsys.readouterr().err
    assert [r["step"] for r in _trace(trace)] == list(range(STEPS_PER_EPOCH))


# ------------------------------------------------------------------ precise BN
# Precise BN recomputes BatchNorm statistics before every validation (each epoch here) from a loader
# of its own. Training must not notice: same batches, rates and random numbers, the same weights.
def _with_precise_bn(raw: dict) -> dict:
    raw["precise_bn"] = {"num_batches": 2}
    return raw


@pytest.fixture(scope="module")
def precise_uninterrupted(synthetic, tmp_path_factory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("resume_precise")
    config = write_config(root / "p.yaml", _with_precise_bn(_tiny(synthetic.source, root / "run", epochs=EPOCHS)))
    trace = root / "trace.jsonl"
    run_ok("fit", "--config", config, *_callbacks(("TraceSteps", "path", trace)))
    return root / "run" / "checkpoints" / "last.ckpt", _trace(trace)


def test_precise_bn_leaves_training_untouched(uninterrupted, precise_uninterrupted):
    (last_a, trace_a), (last_p, trace_p) = uninterrupted, precise_uninterrupted
    assert trace_p == trace_a, "precise BN changed the batches, rates or random numbers training saw"
    a, p = load_checkpoint(last_a)["state_dict"], load_checkpoint(last_p)["state_dict"]
    statistics = {k for k in a if k.endswith((".running_mean", ".running_var"))}
    different = [k for k in a if k not in statistics and not torch.equal(a[k], p[k])]
    assert not different, f"{len(different)} weights differ, first {different[0]}"
    assert sum(not torch.equal(a[k], p[k]) for k in statistics) > len(statistics) // 2, "statistics recomputed"


def test_rerun_with_precise_bn_resumes_exactly(precise_uninterrupted, synthetic, tmp_path):
    last_p, trace_p = precise_uninterrupted
    run_dir = tmp_path / "run"
    config = write_config(tmp_path / "b.yaml", _with_precise_bn(_tiny(synthetic.source, run_dir, epochs=EPOCHS)))
    trace = tmp_path / "trace.jsonl"
    _fit_crashing(config, trace, 3)  # mid-epoch 1, after epoch 0's validation
    run_ok("fit", "--config", config, *_callbacks(("TraceSteps", "path", trace)))
    assert _trace(trace) == trace_p
    _assert_same_weights(last_p, run_dir / "checkpoints" / "last.ckpt")  # statistics included
