"""`a2video demo --size tiny`: the whole user workflow (synth → pre-train → fine-tune → test) end to end."""

from __future__ import annotations

import json
import re

import numpy as np
import torch
import yaml

from a2video.cli import main
from a2video.demo.recipe import SIZES, demo_configs


def test_tiny_demo_runs_end_to_end_and_skips_finished_stages(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--size", "tiny", "--out", str(out), "--workers", "0"]) == 0
    printed = capsys.readouterr().out
    assert "a2video demo finished" in printed and "video" in printed
    # One line per stage, each with the time so far and an estimate of the total.
    stage_lines = [line for line in printed.splitlines() if re.match(r"\[[1-4]/4\] ", line)]
    assert [line[:5] for line in stage_lines] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    assert all(re.search(r"\[\d+:\d\d elapsed, about \d+:\d\d in all\]$", line) for line in stage_lines), stage_lines
    timing = json.loads((out / "timing.json").read_text())
    assert list(timing["stages"]) == ["data", "pretrain", "finetune", "test"]
    assert all(stage["wall_s"] > 0 and stage["predicted_s"] > 0 for stage in timing["stages"].values())
    units = ("train_step", "eval_view", "train_clip_load", "val_video_load", "test_video_load", "video_write")
    assert all(timing["costs_s"][unit] > 0 for unit in units)
    assert timing["total_wall_s"] >= sum(stage["wall_s"] for stage in timing["stages"].values())

    spec = SIZES["tiny"]
    held_out = max(1, spec.videos_per_class // 5)
    metrics = json.loads((out / "runs" / "finetune_target" / "test" / "metrics.json").read_text())
    assert metrics["num_videos"] == 8 * held_out  # 8 target classes
    assert metrics["views_per_video"] == spec.test_clips * spec.test_crops
    assert metrics["num_failed_videos"] == 0
    logits = np.load(out / "runs" / "finetune_target" / "test" / "view_logits.npz")["logits"]
    assert logits.shape[-1] == 8

    # The fine-tuned model has the target's 8-way classifier on the source-trained backbone.
    pretrain = torch.load(out / "runs" / "pretrain_source" / "checkpoints" / "last.ckpt", weights_only=False)
    finetune = torch.load(out / "runs" / "finetune_target" / "checkpoints" / "last.ckpt", weights_only=False)
    assert pretrain["state_dict"]["net.fc.weight"].shape[0] == 10
    assert finetune["state_dict"]["net.fc.weight"].shape[0] == 8
    for stage in ("pretrain", "finetune"):
        assert (out / "configs" / f"{stage}.yaml").is_file()

    # The test stage used the checkpoint that fine-tuning ranked best by validation, not last.ckpt.
    finetune_dir = out / "runs" / "finetune_target"
    [ranking] = [state for key, state in finetune["callbacks"].items() if key.startswith("ModelCheckpoint")]
    tested = yaml.safe_load((finetune_dir / "test_config.yaml").read_text())["ckpt_path"]
    assert tested == ranking["best_model_path"] and "/best-" in tested

    # A second run finds both stages finished and only tests again.
    last = out / "runs" / "pretrain_source" / "checkpoints" / "last.ckpt"
    before = last.stat().st_mtime_ns
    assert main(["demo", "--size", "tiny", "--out", str(out), "--workers", "0"]) == 0
    assert last.stat().st_mtime_ns == before
    again = capsys.readouterr()
    assert "[4/4] multi-view test" in again.out and "resuming from" not in again.err  # no fit launched
    skipped = json.loads((out / "timing.json").read_text())["stages"]
    assert skipped["pretrain"]["predicted_s"] == skipped["finetune"]["predicted_s"] == 0.0  # not in the estimate
    assert [p.name for p in (out / "runs" / "pretrain_source" / "csv").iterdir()] == ["version_0"]

    # Another seed in the same folder: the videos were made with seed 0, so the demo refuses in one
    # line before it trains anything (it would otherwise test runs of the other seed).
    assert main(["demo", "--size", "tiny", "--out", str(out), "--workers", "0", "--seed", "1"]) == 1
    refused = capsys.readouterr().err
    assert "other parameters" in refused and "Traceback" not in refused
    assert last.stat().st_mtime_ns == before


def test_demo_seed_reaches_every_seeded_setting(tmp_path):
    configs = demo_configs(str(tmp_path), size="tiny", workers=0, seed=7)
    for stage in ("pretrain", "finetune"):
        assert configs[stage]["seed_everything"] == 7 and configs[stage]["data"]["seed"] == 7
    assert demo_configs(str(tmp_path), size="tiny", workers=0)["pretrain"]["seed_everything"] == 0
