"""Helpers of the engine tests: tiny configs, running the ``a2video`` command, checkpoints.

Everything goes through ``a2video.cli.main`` (the ``a2video`` command) with a narrow A²-Net
(``a2net_r26``, base width 4): 4-frame 32-pixel clips, batches of 4, no loader workers, a few
optimiser steps. Source set: 10 classes x 3 videos (1 train, 1 val, 1 test per class, so in the
training list a label names its video); target set: 8 classes x 3 videos.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import yaml
from torch import nn

from a2video.cli import main
from a2video.data.transforms import normalize_video
from a2video.demo import recipe as demo
from a2video.engine.datamodule import VideoDataModule
from a2video.demo.recipe import DemoSize
from a2video.engine.lightning_cli import parse_config
from a2video.engine.module import VideoClassifier
from a2video.engine.precise_bn import training_batches

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


class DumpBatchNorm(pl.Callback):
    """Save every BatchNorm layer's running statistics when an evaluation ends, with the epoch, to
    ``<folder>/<validate|test>_rank<r>.pt`` (the sanity check is skipped)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def _dump(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        stats = {name: (m.running_mean.clone(), m.running_var.clone()) for name, m in pl_module.named_modules()
                 if isinstance(m, nn.modules.batchnorm._BatchNorm)}
        torch.save({"epoch": trainer.current_epoch, "stats": stats},
                   Path(self.folder) / f"{stage}_rank{trainer.global_rank}.pt")

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._dump(trainer, pl_module, "validate")

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        self._dump(trainer, pl_module, "test")


def expected_batchnorm_statistics(config: Path, checkpoint: Path, *, epoch: int, world_size: int, num_batches: int,
                                  ranks: list[int] | None = None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Precise BN's statistics computed independently: each BatchNorm layer's inputs are read with a
    hook, and the per-channel mean and unbiased variance of each batch are averaged (in float64)
    over the batches of a rank, then over the ranks (all of them, or those given)."""
    parsed = parse_config(["validate", "--config", str(config)])
    data = VideoDataModule(**parsed.data.as_dict())
    model = VideoClassifier(**parsed.model.as_dict())
    model.build(data.num_classes, load_initial_weights=False)
    model.load_state_dict(load_checkpoint(checkpoint)["state_dict"])
    model.eval()
    layers = {name: m for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}
    seen: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {name: [] for name in layers}

    def record(name: str):
        def hook(module, inputs) -> None:
            x = inputs[0].transpose(0, 1).flatten(1).double()  # (C, N·T·H·W)
            seen[name].append((x.mean(1), x.var(1, correction=1)))
        return hook

    for name, layer in layers.items():
        layer.train()  # batch statistics normalise, as in training, so later layers see training inputs
        layer.register_forward_pre_hook(record(name))
    per_rank = []
    with torch.no_grad():
        for rank in range(world_size) if ranks is None else ranks:
            for stats in seen.values():
                stats.clear()
            loader = training_batches(data, epoch=epoch, rank=rank, world_size=world_size)
            for batch in itertools.islice(loader, num_batches):
                model(normalize_video(batch["video"]))
            per_rank.append({name: tuple(torch.stack(s).mean(0) for s in zip(*stats)) for name, stats in seen.items()})
    return {name: tuple(torch.stack([r[name][i] for r in per_rank]).mean(0).float() for i in (0, 1)) for name in layers}
