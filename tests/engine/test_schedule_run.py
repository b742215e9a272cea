"""The learning rate each step of a real run trains with, when ``max_steps`` ends the run before
``max_epochs``: warm-up and step decay are still counted in epochs of the train loader.

Source set: 10 training videos, batches of 4 (last one dropped) → 2 steps per epoch. The run stops
after 3 steps, in its second epoch. ``test_optim.py`` tests ``make_schedule`` itself.
"""

from __future__ import annotations

import json

import pytest

from engine_helpers import STEPS_PER_EPOCH, load_checkpoint, run_ok, tiny_config, write_config

LR = 0.05  # per 4 clips, batches of 4: no scaling


@pytest.mark.parametrize("schedule, expected", [
    # warm-up of half an epoch = 1 step from 0.1 x, then cosine over the remaining 2 steps
    ({"schedule": "cosine", "warmup_epochs": 0.5}, [0.1 * LR, LR, 0.5 * LR]),
    # x 0.1 from epoch 1 on, i.e. from step 2
    ({"schedule": "step", "warmup_epochs": 0, "step_epochs": [1]}, [LR, LR, 0.1 * LR]),
], ids=["cosine-warmup", "step"])
def test_max_steps_run_counts_epochs_of_the_loader(synthetic, tmp_path, schedule, expected):
    assert STEPS_PER_EPOCH == 2
    raw = tiny_config(synthetic.source, tmp_path / "run", epochs=10, val=False, lr=LR, **schedule)
    raw["trainer"]["max_steps"] = 3
    config = write_config(tmp_path / "c.yaml", raw)
    trace = tmp_path / "trace.jsonl"
    run_ok("fit", "--config", config, "--trainer.callbacks+=engine_helpers.TraceSteps",
           f"--trainer.callbacks.path={trace}")
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 1, 2]
    head = [r["lr"][-2] for r in records]  # groups: backbone, backbone_no_decay, head, head_no_decay
    assert head == pytest.approx(expected)
    assert all(r["lr"][0] == pytest.approx(r["lr"][-2]) for r in records)  # backbone_lr_mult 1
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")["global_step"] == 3
