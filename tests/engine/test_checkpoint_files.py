"""A checkpoint file is either the previous complete one or the new complete one, never half."""

from __future__ import annotations

import errno
import io
import os

import torch

from a2video.cli import main
from engine_helpers import STEPS_PER_EPOCH, load_checkpoint, run_ok, tiny_config, write_config


def test_failed_save_keeps_the_previous_last_checkpoint(synthetic, tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    config = write_config(tmp_path / "c.yaml", tiny_config(synthetic.source, run_dir, epochs=2, val=False))
    real_save = torch.save
    calls = []

    def disk_full_on_second_save(obj, f, *args, **kwargs):
        calls.append(f)
        if len(calls) == 1:
            return real_save(obj, f, *args, **kwargs)
        # Half a checkpoint reaches the file, then the disk is full.
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        half = buffer.getvalue()[: len(buffer.getvalue()) // 2]
        if isinstance(f, (str, os.PathLike)):
            with open(f, "wb") as out:
                out.write(half)
        else:
            f.write(half)
            f.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full_on_second_save)
    capsys.readouterr()
    assert main(["fit", "--config", str(config)]) == 1
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("a2video: error:")]
    last = run_dir / "checkpoints" / "last.ckpt"
    assert len(errors) == 1 and f"cannot write checkpoint {last}: the disk is full (" in errors[0], err
    assert " MiB free in " in errors[0] and f"the previous {last} (" in errors[0] and "is intact" in errors[0]
    assert len(calls) >= 2  # epoch 0's last.ckpt, then epoch 1's (failed), maybe interrupted.ckpt (failed)
    folder = run_dir / "checkpoints"
    assert load_checkpoint(folder / "last.ckpt")["global_step"] == STEPS_PER_EPOCH
    assert not (folder / "interrupted.ckpt").exists()
    assert sorted(p.name for p in folder.iterdir()) == ["last.ckpt"], "no temporary file left behind"
    # The same command then resumes from the intact checkpoint and finishes.
    run_ok("fit", "--config", config)
    assert load_checkpoint(folder / "last.ckpt")["global_step"] == 2 * STEPS_PER_EPOCH


def test_checkpoints_are_renamed_from_their_own_folder(synthetic, tmp_path, monkeypatch):
    """A rename within one folder is atomic; staging in $TMPDIR is not when that is another disk
    (the move becomes a copy that a crash can cut short)."""
    run_dir = tmp_path / "run"
    config = write_config(tmp_path / "c.yaml", tiny_config(synthetic.source, run_dir, epochs=1, val=False))
    moves = []
    for name in ("replace", "rename"):
        real = getattr(os, name)

        def record(src, dst, *args, _real=real, **kwargs):
            moves.append((os.fspath(src), os.fspath(dst)))
            return _real(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, name, record)
    run_ok("fit", "--config", config)
    monkeypatch.undo()
    into_last = [(src, dst) for src, dst in moves if dst.endswith("last.ckpt")]
    assert into_last, "last.ckpt was not renamed into place"
    assert all(os.path.dirname(src) == os.path.dirname(dst) for src, dst in into_last), into_last
