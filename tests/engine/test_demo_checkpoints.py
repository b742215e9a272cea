"""The demo's checkpoint decisions, on a real run folder (the engine tests' 2-epoch source run).

The demo asks ``a2video.engine.checkpoints`` which checkpoint to test (``best_checkpoint``) and
whether a stage can be skipped on a re-run (``finished_epochs``): the demo itself takes minutes at
a size where the two can be told apart. ``tests/test_demo.py`` checks the same two decisions
through ``a2video demo --size tiny``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from a2video.engine.checkpoints import best_checkpoint, finished_epochs
from a2video.errors import A2VideoError
from engine_helpers import load_checkpoint


def ranked_best(last_checkpoint: Path) -> Path:
    """The best checkpoint as ranked by the run's ModelCheckpoint (its state in ``last.ckpt``)."""
    callbacks = load_checkpoint(last_checkpoint)["callbacks"]
    [state] = [value for key, value in callbacks.items() if key.startswith("ModelCheckpoint")]
    return Path(state["best_model_path"])


def test_the_demo_tests_the_checkpoint_ranked_best(source_run):
    best = ranked_best(source_run.last)
    assert best.is_file() and best != source_run.last
    assert best_checkpoint(source_run.dir) == best


def test_without_a_best_checkpoint_the_demo_tests_the_last(source_run, tmp_path):
    (tmp_path / "checkpoints").mkdir()
    shutil.copyfile(source_run.last, tmp_path / "checkpoints" / "last.ckpt")
    assert best_checkpoint(tmp_path) == tmp_path / "checkpoints" / "last.ckpt"
    (tmp_path / "checkpoints" / "last.ckpt").unlink()
    with pytest.raises(A2VideoError, match="no checkpoint in"):
        best_checkpoint(tmp_path)


def test_a_stage_is_finished_when_its_last_checkpoint_is_from_the_final_epoch(source_run, tmp_path):
    epochs = yaml.safe_load(source_run.config.read_text())["trainer"]["max_epochs"]
    assert epochs == 2
    assert finished_epochs(source_run.last) == epochs
    assert finished_epochs(tmp_path / "absent.ckpt") == 0
