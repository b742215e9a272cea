"""``a2video fit|validate|test``: LightningCLI over VideoClassifier and VideoDataModule.

The typed ``__init__`` signatures of the two classes are the config schema (``--print_config``
shows every key). Each run lives in one folder, ``trainer.default_root_dir``:

    config.yaml            resolved config of the fit (test_config.yaml for test, ...)
    checkpoints/last.ckpt  latest state, after every training epoch; best-*.ckpt by val/clip_top1;
                           interrupted.ckpt on a crash
    events.out.tfevents.*  TensorBoard;  csv/version_N/metrics.csv  CSV log of each launch
    test/                  metrics.json, predictions.csv, view_logits.npz, confusion.png

``fit`` resumes from the folder's newest checkpoint unless ``--resume never`` or ``--ckpt_path``.
The config (file and command line) is what runs: a checkpoint given with ``--ckpt_path`` provides
weights and training state, never settings.
"""

from __future__ import annotations

import difflib
import logging
import re
import sys
import warnings
from argparse import ArgumentError
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.utilities.exceptions import MisconfigurationException
from pytorch_lightning.callbacks import (
    Callback,
    LearningRateMonitor,
    ModelCheckpoint,
    ProgressBar,
    TQDMProgressBar,
)
from pytorch_lightning.cli import (
    LightningArgumentParser,
    LightningCLI,
    SaveConfigCallback,
)
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger
from pytorch_lightning.plugins import CheckpointIO, TorchCheckpointIO

from a2video.engine.datamodule import VideoDataModule
from a2video.engine.module import VideoClassifier
from a2video.errors import A2VideoError, ConfigError
from a2video.files import atomic_write

LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test")
CHECKPOINT_DIR = "checkpoints"
# Values of --ckpt_path that Lightning resolves itself rather than reading a file.
_LIGHTNING_CKPT_KEYWORDS = ("last", "best", "hpc", "registry")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint to a temporary file beside its destination, fsync it, then rename it.

    Lightning's own writer stages the file in the system temporary folder and moves it; when that
    folder is on another file system than the run (a node-local /tmp, runs on a network disk) the
    move is a copy, and a crash during the copy leaves a truncated ``last.ckpt``. A rename within
    one folder is atomic: the destination is either the old checkpoint or the complete new one.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)  # remote storage: Lightning's way
            return
        atomic_write(path, lambda f: torch.save(checkpoint, f))


class LastCheckpoint(ModelCheckpoint):
    """``checkpoints/last.ckpt`` at the end of every training epoch (after its validation).

    Lightning's ``save_last`` only refreshes ``last.ckpt`` at the steps where a best-k checkpoint
    is written: once the monitored metric stops improving, "last" (the resume point, the model
    ``test`` is pointed at) would silently stay at the best epoch. This callback writes it every
    epoch, whatever the metric does; it is added after the best-k callback so the state it saves
    includes that callback's ranking of the same epoch.
    """

    def __init__(self, dirpath: str | Path) -> None:
        super().__init__(dirpath=dirpath, filename="last", monitor=None, save_top_k=1, save_last=False,
                         save_on_train_epoch_end=True, enable_version_counter=False, auto_insert_metric_name=False)

    @property
    def state_key(self) -> str:
        return "a2video.LastCheckpoint"


class InterruptCheckpoint(Callback):
    """Save ``checkpoints/interrupted.ckpt`` when training stops on an exception (Ctrl-C included),
    so the steps done since the last checkpoint are not lost."""

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if trainer.state.fn != "fit" or trainer.global_step == 0 or trainer.sanity_checking:
            return
        path = Path(trainer.default_root_dir) / CHECKPOINT_DIR / "interrupted.ckpt"
        if trainer.world_size > 1 and not isinstance(exception, KeyboardInterrupt):
            # An error raised on one rank only: trainer.save_checkpoint would wait at a barrier for
            # ranks that never come. The failing rank writes its own state without the barrier
            # (weights and optimiser are replicated under DDP). It cannot be left to rank 0: rank 0
            # only hears of the failure when a collective breaks, and Lightning's launcher SIGKILLs
            # it within 5 s of a child rank exiting with an error, often before it could save.
            # Ranks that both fail write complete files (atomic rename); the last one stays.
            trainer.strategy.checkpoint_io.save_checkpoint(trainer._checkpoint_connector.dump_checkpoint(), path)
            print(f"\na2video: {type(exception).__name__} on rank {trainer.global_rank} at step "
                  f"{trainer.global_step}; saved {path}", file=sys.stderr)
            return
        trainer.save_checkpoint(path)  # every rank takes part; rank 0 writes
        if trainer.global_rank == 0:
            print(f"\na2video: {type(exception).__name__} at step {trainer.global_step}; saved {path}",
                  file=sys.stderr)


class RunConfig(SaveConfigCallback):
    """Save the resolved config in the run folder, one file per subcommand, overwritten on resume."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        stage = getattr(stage, "value", stage)  # a TrainerFn: its str() is "TrainerFn.TESTING"
        self.config_filename = "config.yaml" if stage == "fit" else f"{stage}_config.yaml"
        self.overwrite = True
        super().setup(trainer, pl_module, stage)


def resume_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest of ``last.ckpt`` and ``interrupted.ckpt`` in a run folder, if any."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    candidates = [p for p in (folder / "last.ckpt", folder / "interrupted.ckpt") if p.is_file()]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def config_error_message(message: str, subcommand: str | None, known_keys: list[str]) -> str:
    """jsonargparse's (often multi-line) parse error as one line, with a close key suggested."""
    text = " ".join(str(message).split())
    unknown = None
    match = re.search(r"does not accept option '([^']+)'", text)
    if match:  # a key in a config file
        unknown = match.group(1)
        text = f"unknown config key '{unknown}'"
    match = re.match(r"unrecognized arguments: (.*)", text)
    if match:  # an option on the command line
        options = [a for a in match.group(1).split() if a.startswith("--")]
        unknown = options[0][2:].split("=")[0] if options else None
        text = f"unknown option{'s' if len(options) > 1 else ''} {' '.join(options) or match.group(1)}"
    if unknown:
        close = difflib.get_close_matches(unknown, known_keys, n=1, cutoff=0.75)
        if close:
            text += f" (did you mean '{close[0]}'?)"
    where = f"a2video {subcommand} --help" if subcommand else "a2video fit --help"
    return f"{text}; `{where}` lists every key"


def log_file_progress_bar(enabled: bool | None, callbacks: list, stream: Any) -> TQDMProgressBar | None:
    """A progress bar that redraws every 50 batches when the output is not a terminal.

    Redrawn on every batch, tqdm writes one line per batch into a log file (a batch job's
    output, CI), so a short epoch with validation becomes a hundred lines. ``None`` (Lightning's
    default bar) for a terminal, when bars are off, or when the config brings its own bar.
    """
    if enabled is False or any(isinstance(c, ProgressBar) for c in callbacks):
        return None
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return None
    return TQDMProgressBar(refresh_rate=50)


class A2VideoCLI(LightningCLI):
    """LightningCLI with the run-folder layout, forced checkpointing and automatic resume."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults({
            "checkpoint.monitor": "val/clip_top1", "checkpoint.mode": "max",
            "checkpoint.save_last": False,  # LastCheckpoint writes last.ckpt every epoch
            "checkpoint.save_top_k": 1, "checkpoint.auto_insert_metric_name": False,
            "checkpoint.filename": "best-epoch{epoch:03d}-top1_{val/clip_top1:.2f}",
        })
        parser.add_argument("--resume", choices=["auto", "never"], default="auto",
                            help="fit: continue from the run folder's newest checkpoint (auto) or start over")

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Parse errors become one-line :class:`ConfigError` s instead of a usage dump."""
        try:
            super().parse_arguments(parser, args)
        except ArgumentError as error:
            subcommand = next((a for a in (args or []) if a in self.subcommands()), None)
            known: list[str] = []
            if subcommand is not None:
                sub = parser._subcommands_action._name_parser_map.get(subcommand)
                known = list(sub.get_defaults().keys()) if sub is not None else []
            raise ConfigError(config_error_message(str(error), subcommand, known)) from None

    def instantiate_classes(self) -> None:
        """Values the parser accepts but the classes reject (no list at all, a GPU trainer on a
        machine without one, ...) are config errors: one line, no traceback."""
        try:
            super().instantiate_classes()
        except A2VideoError:
            raise  # ours already say what is wrong (a list file's path and line, ...)
        except (ValueError, MisconfigurationException) as error:
            raise ConfigError(f"the config cannot be set up: {' '.join(str(error).split())}") from None

    def _parse_ckpt_path(self) -> None:
        """Lightning would overwrite the model section with the hyperparameters stored in
        ``--ckpt_path`` (silently dropping e.g. ``--model.aggregate logits`` at test time). Here the
        config is what runs; :meth:`VideoClassifier.on_load_checkpoint` checks that the network
        it describes is the checkpoint's."""

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
        callbacks = list(config.get("callbacks") or [])
        bar = log_file_progress_bar(config.get("enable_progress_bar"), callbacks, sys.stderr)
        kwargs["callbacks"] = callbacks + extra + ([bar] if bar is not None else [])
        plugins = config.get("plugins")
        plugins = [] if plugins is None else list(plugins) if isinstance(plugins, (list, tuple)) else [plugins]
        if not any(isinstance(p, CheckpointIO) for p in plugins):
            kwargs["plugins"] = plugins + [AtomicCheckpointIO()]
        trainer = super().instantiate_trainer(**kwargs)
        # Appended after construction so it follows the best-k callback (see LastCheckpoint).
        trainer.callbacks.append(LastCheckpoint(root / CHECKPOINT_DIR))
        return trainer

    def _check_inputs(self, subcommand: str, split: str) -> None:
        """Fail early, in one line, on a missing list or checkpoint (before a run folder is made)."""
        if not self.datamodule.has_split(split):
            key = {"train": "data.train_list", "val": "data.val_list", "test": "data.test_list"}[split]
            raise A2VideoError(f"`a2video {subcommand}` needs {key}")
        ckpt_path = self.config_init[subcommand].get("ckpt_path")
        if ckpt_path and str(ckpt_path) not in _LIGHTNING_CKPT_KEYWORDS and "://" not in str(ckpt_path):
            if not Path(ckpt_path).is_file():
                raise A2VideoError(f"ckpt_path: checkpoint not found: {ckpt_path}")
        init_from = self.model.hparams.get("init_from")
        if not ckpt_path and init_from and "://" not in str(init_from) and not Path(init_from).expanduser().is_file():
            raise A2VideoError(f"model.init_from: checkpoint not found: {init_from}")

    def before_fit(self) -> None:
        config = self.config_init["fit"]
        if config.get("ckpt_path") is None and config.get("resume") == "auto":
            found = resume_checkpoint(self.trainer.default_root_dir)
            if found is not None:
                print(f"a2video: resuming from {found} (pass --resume never to start over)", file=sys.stderr)
                config["ckpt_path"] = str(found)
        self._check_inputs("fit", "train")
        if not self.datamodule.has_split("val"):
            # Without validation there is nothing to rank "best" by: keep last.ckpt only.
            self.trainer.checkpoint_callback.monitor = None
            self.trainer.checkpoint_callback.save_top_k = 0

    def before_validate(self) -> None:
        self._check_inputs("validate", "val")

    def before_test(self) -> None:
        self._check_inputs("test", "test")


class _ParseOnlyCLI(A2VideoCLI):
    def instantiate_classes(self) -> None:
        pass

    def _run_subcommand(self, subcommand: str) -> None:
        pass


def parse_config(args: list[str]) -> Any:
    """The config that ``a2video <args>`` would run, parsed and checked but not instantiated.

    Returns the subcommand's namespace (``.model``, ``.data``, ``.trainer``, ...). Raises
    :class:`ConfigError` on an unknown key or a value of the wrong type, as the command does.
    """
    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter is intended.*")
    cli = _ParseOnlyCLI(VideoClassifier, VideoDataModule, args=args, save_config_callback=RunConfig,
                        seed_everything_default=0, trainer_defaults={"use_distributed_sampler": False},
                        parser_kwargs=parser_kwargs(), auto_configure_optimizers=False)
    return cli.config[cli.config["subcommand"]]


def parser_kwargs() -> dict[str, Any]:
    """Parse errors raise (and are reported in one line) rather than print the usage and exit."""
    kwargs: dict[str, Any] = {"default_env": False, "exit_on_error": False, "prog": "a2video"}
    for subcommand in LIGHTNING_SUBCOMMANDS:
        kwargs[subcommand] = {"exit_on_error": False}
    return kwargs


class _NoTips(logging.Filter):
    """Drop Lightning's advertising tips (e.g. for its cloud logger) from every run's output."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


def run_lightning(args: list[str]) -> int:
    """Run a LightningCLI subcommand; returns the process exit code."""
    # We pass args explicitly so main() can be called from Python; the warning about also
    # seeing sys.argv is then noise.
    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter is intended.*")
    lightning_log = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    if not any(isinstance(f, _NoTips) for f in lightning_log.filters):
        lightning_log.addFilter(_NoTips())
    A2VideoCLI(
        VideoClassifier,
        VideoDataModule,
        args=args,
        save_config_callback=RunConfig,
        seed_everything_default=0,
        trainer_defaults={"use_distributed_sampler": False},  # VideoDataModule's samplers split by rank
        parser_kwargs=parser_kwargs(),
        # The optimiser and schedule are VideoClassifier's (parameter groups, linear scaling):
        # no --optimizer / --lr_scheduler options that would silently replace them.
        auto_configure_optimizers=False,
    )
    return 0
