"""``a2video fit|validate|test``: LightningCLI over VideoClassifier and VideoDataModule.

The typed ``__init__`` signatures of the two classes are the config schema (``--print_config``
shows every key). Each run lives in one folder, ``trainer.default_root_dir``:

    config.yaml            resolved config of the fit (test_config.yaml for test, ...)
    checkpoints/last.ckpt  latest state; best-*.ckpt by val/clip_top1; interrupted.ckpt on a crash
    events.out.tfevents.*  TensorBoard;  csv/version_N/metrics.csv  CSV log of each launch
    test/                  metrics.json, predictions.csv, view_logits.npz, confusion.png

``fit`` resumes from the folder's newest checkpoint unless ``--resume never`` or ``--ckpt_path``.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

from a2video.engine.datamodule import VideoDataModule
from a2video.engine.module import VideoClassifier

LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test")
CHECKPOINT_DIR = "checkpoints"


class InterruptCheckpoint(Callback):
    """Save ``checkpoints/interrupted.ckpt`` when training stops on an exception (Ctrl-C included),
    so the steps done since the last checkpoint are not lost."""

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if trainer.state.fn != "fit" or trainer.global_step == 0:
            return
        path = Path(trainer.default_root_dir) / CHECKPOINT_DIR / "interrupted.ckpt"
        trainer.save_checkpoint(path)  # atomic: Lightning writes a temporary file, then moves it
        print(f"\na2video: {type(exception).__name__} at step {trainer.global_step}; saved {path}", file=sys.stderr)


class RunConfig(SaveConfigCallback):
    """Save the resolved config in the run folder, one file per subcommand, overwritten on resume."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.config_filename = "config.yaml" if stage == "fit" else f"{stage}_config.yaml"
        self.overwrite = True
        super().setup(trainer, pl_module, stage)


def resume_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest of ``last.ckpt`` and ``interrupted.ckpt`` in a run folder, if any."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    candidates = [p for p in (folder / "last.ckpt", folder / "interrupted.ckpt") if p.is_file()]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


class A2VideoCLI(LightningCLI):
    """LightningCLI with the run-folder layout, forced checkpointing and automatic resume."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({
            "checkpoint.monitor": "val/clip_top1", "checkpoint.mode": "max", "checkpoint.save_last": True,
            "checkpoint.save_top_k": 1, "checkpoint.auto_insert_metric_name": False,
            "checkpoint.filename": "best-epoch{epoch:03d}-top1_{val/clip_top1:.2f}",
        })
        parser.add_argument("--resume", choices=["auto", "never"], default="auto",
                            help="fit: continue from the run folder's newest checkpoint (auto) or start over")

    def instantiate_trainer(self, **kwargs: Any) -> pl.Trainer:
        config = self._get(self.config_init, "trainer", default={})
        root = Path(config.get("default_root_dir") or "runs/a2video")
        kwargs["default_root_dir"] = str(root)
        if config.get("logger") in (None, True):
            # TensorBoard writes into the run folder itself (so trainer.log_dir is the run folder and
            # a resumed run appends to the same curves); CSV gets csv/version_N per launch because
            # CSVLogger deletes an existing metrics.csv in a non-empty folder.
            kwargs["logger"] = [TensorBoardLogger(root, name="", version="", default_hp_metric=False),
                                CSVLogger(root, name="csv")]
        checkpoint = self._get(self.config_init, "checkpoint")
        if checkpoint is not None and checkpoint.dirpath is None:
            checkpoint.dirpath = str(root / CHECKPOINT_DIR)
        extra = [InterruptCheckpoint()]
        if kwargs.get("logger", config.get("logger")):
            extra.append(LearningRateMonitor(logging_interval="step"))
        kwargs["callbacks"] = list(config.get("callbacks") or []) + extra
        return super().instantiate_trainer(**kwargs)

    def before_fit(self) -> None:
        config = self.config_init["fit"]
        if config.get("ckpt_path") is None and config.get("resume") == "auto":
            found = resume_checkpoint(self.trainer.default_root_dir)
            if found is not None:
                print(f"a2video: resuming from {found} (pass --resume never to start over)", file=sys.stderr)
                config["ckpt_path"] = str(found)
        if not self.datamodule.has_split("val"):
            # Without validation there is nothing to rank "best" by: keep last.ckpt only.
            self.trainer.checkpoint_callback.monitor = None
            self.trainer.checkpoint_callback.save_top_k = 0


def run_lightning(args: list[str]) -> int:
    """Run a LightningCLI subcommand; returns the process exit code."""
    # We pass args explicitly so main() can be called from Python; the warning about also
    # seeing sys.argv is then noise.
    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter is intended.*")
    A2VideoCLI(
        VideoClassifier,
        VideoDataModule,
        args=args,
        save_config_callback=RunConfig,
        seed_everything_default=0,
        trainer_defaults={"use_distributed_sampler": False},  # VideoDataModule's samplers split by rank
        parser_kwargs={"default_env": False},
    )
    return 0
