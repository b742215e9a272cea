"""Helpers of the engine tests: tiny configs, running the ``a2video`` command, checkpoints.

Everything goes through ``a2video.cli.main`` (the ``a2video`` command) with a narrow A²-Net
(``a2net_r26``, base width 4): 4-frame 32-pixel clips, batches of 4, no loader workers, a few
optimiser steps. Source set: 10 classes x 3 videos (1 train, 1 val, 1 test per class, so in the
training list a label names its video); target set: 8 classes x 3 videos.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import yaml

from a2video.cli import main
from a2video.engine import demo
from a2video.engine.demo import DemoSize

TRAIN_VIDEOS = 10  # source set: one training video per class
BATCH = 4
STEPS_PER_EPOCH = TRAIN_VIDEOS // BATCH  # the loader drops the last, incomplete batch
TEST_CLIPS, TEST_CROPS = 2, 3


def tiny_config(dataset: Any, run_dir: str | Path, *, epochs: int = 2, val: bool = True, **model: Any) -> dict:
    """A complete ``a2video fit`` config for a synthetic set: the demo's, made tiny."""
    views = DemoSize(videos_per_class=0, pretrain_epochs=epochs, finetune_epochs=epochs, test_clips=TEST_CLIPS,
                     test_crops=TEST_CROPS)
    data = {**demo.data_config(dataset.root, size=views, workers=0),
            "num_frames": 4, "sampling_rate": 2, "train_scale_range": [32, 36], "batch_size": BATCH}
    if not val:
        data["val_list"] = None
    return {
        "seed_everything": 0,
        "model": {**demo.model_config("a2net_r26", lr=0.05, epochs=epochs), "base_width": 4, "dropout": 0.3,
                  "reference_batch_size": BATCH, "nesterov": False, "warmup_epochs": 0.5, **model},
        "data": data,
        "trainer": {**demo.trainer_config(str(run_dir), epochs=epochs), "accelerator": "cpu",
                    "enable_progress_bar": False, "enable_model_summary": False, "log_every_n_steps": 1},
    }


def write_config(path: Path, config: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(copy.deepcopy(config), sort_keys=False))
    return path


def run_ok(*args: str) -> None:
    """``a2video <args>``, which must succeed."""
    assert main([str(a) for a in args]) == 0


def load_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


class RecordTrainLabels(pl.Callback):
    """Append ``{"rank", "epoch", "step", "labels"}`` per training batch to ``<folder>/labels_rank<r>.jsonl``.

    In the source set's training list a label names its video, so the labels say which videos a
    rank trained on. Importable by the DDP subprocesses (PYTHONPATH=tests/engine).
    """

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        record = {"rank": trainer.global_rank, "epoch": trainer.current_epoch, "step": trainer.global_step,
                  "labels": batch["label"].tolist()}
        with open(Path(self.folder) / f"labels_rank{trainer.global_rank}.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")


class CrashOnRank(pl.Callback):
    """Raise on one rank only, once ``global_step`` reaches ``step``."""

    def __init__(self, rank: int, step: int) -> None:
        self.rank = rank
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_rank == self.rank and trainer.global_step >= self.step:
            raise RuntimeError(f"test crash on rank {self.rank} after step {trainer.global_step}")


class TraceSteps(pl.Callback):
    """Append one JSON line per training step to ``path``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        record = {
            "step": trainer.global_step,
            "epoch": trainer.current_epoch,
            "labels": batch["label"].tolist(),
            "video_sum": float(batch["video"].double().sum()),
            "lr": [group["lr"] for group in trainer.optimizers[0].param_groups],
            "rng": hashlib.sha1(torch.get_rng_state().numpy().tobytes()).hexdigest(),
        }
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
