"""Checkpoints that survive a bad day: a cut-short last.ckpt, a file that is no checkpoint, SIGTERM."""

from __future__ import annotations

import os
import signal

import pytorch_lightning as pl
import torch

from a2video.cli import main
from engine_helpers import STEPS_PER_EPOCH, load_checkpoint, run_ok, tiny_config, write_config


def _run(capsys, *args) -> tuple[int, str]:
    capsys.readouterr()
    rc = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return rc, err


def _one_error(err: str) -> str:
    errors = [line for line in err.splitlines() if line.startswith("a2video: error:")]
    assert len(errors) == 1, err
    return errors[0]


def _cut_in_half(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_truncated_last_checkpoint_resumes_from_the_readable_best(synthetic, tmp_path, capsys):
    run_dir = tmp_path / "run"
    config = write_config(tmp_path / "c.yaml", tiny_config(synthetic.source, run_dir, epochs=1))
    run_ok("fit", "--config", config)
    folder = run_dir / "checkpoints"
    best = next(folder.glob("best-*.ckpt"))
    _cut_in_half(folder / "last.ckpt")
    os.utime(best, (1, 1))  # older than the cut last.ckpt, so it is only the fallback
    longer = write_config(tmp_path / "c2.yaml", tiny_config(synthetic.source, run_dir, epochs=2))
    rc, err = _run(capsys, "fit", "--config", longer)
    assert rc == 0, err
    assert f"warning: skipping {folder / 'last.ckpt'}: not a complete checkpoint" in err
    assert f"resuming from {best}" in err
    assert load_checkpoint(folder / "last.ckpt")["global_step"] == 2 * STEPS_PER_EPOCH


def test_no_readable_checkpoint_says_how_to_start_over(synthetic, tmp_path, capsys):
    run_dir = tmp_path / "run"
    config = write_config(tmp_path / "c.yaml", tiny_config(synthetic.source, run_dir, epochs=1, val=False))
    run_ok("fit", "--config", config)
    _cut_in_half(run_dir / "checkpoints" / "last.ckpt")
    rc, err = _run(capsys, "fit", "--config", config)
    line = _one_error(err)
    assert rc == 1 and "no readable checkpoint in" in line and "last.ckpt: not a complete checkpoint" in line
    assert "--resume never" in line
    rc, err = _run(capsys, "fit", "--config", config, "--resume", "never")
    assert rc == 0, err


def test_ckpt_path_that_is_not_a_checkpoint(synthetic, tmp_path, capsys):
    config = write_config(tmp_path / "c.yaml", tiny_config(synthetic.source, tmp_path / "run", epochs=1))
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint\n")
    rc, err = _run(capsys, "test", "--config", config, "--ckpt_path", text)
    line = _one_error(err)
    assert rc == 1 and f"ckpt_path: {text} cannot be used: not a complete checkpoint" in line
    tensor = tmp_path / "tensor.ckpt"
    torch.save({"weights": torch.zeros(2)}, tensor)  # a torch file, but not a training checkpoint
    rc, err = _run(capsys, "test", "--config", config, "--ckpt_path", tensor)
    assert rc == 1 and f"ckpt_path: {tensor} is not a training checkpoint" in _one_error(err)


class SigtermAt(pl.Callback):
    """Send this process SIGTERM after ``step`` optimiser steps, as a cluster scheduler would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


def test_sigterm_saves_and_exits_non_zero(synthetic, tmp_path, capsys):
    run_dir = tmp_path / "run"
    raw = tiny_config(synthetic.source, run_dir, epochs=2, val=False)
    raw["trainer"]["callbacks"] = [{"class_path": "test_bad_days.SigtermAt", "init_args": {"step": 1}}]
    config = write_config(tmp_path / "c.yaml", raw)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        rc, err = _run(capsys, "fit", "--config", config)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert rc == 143, err
    assert "stopped by SIGTERM" in _one_error(err)
    interrupted = load_checkpoint(run_dir / "checkpoints" / "interrupted.ckpt")
    assert 1 <= interrupted["global_step"] <= 2
