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
import re
import sys
import warnings
from argparse import ArgumentError
from pathlib import Path
from typing import Any, Optional

import pytorch_lightning as pl
from jsonargparse.typing import PositiveInt
from lightning_fabric.utilities.exceptions import MisconfigurationException
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger
from pytorch_lightning.plugins import CheckpointIO
from pytorch_lightning.utilities.exceptions import SIGTERMException

from a2video.engine.checkpoints import (
    CHECKPOINT_DIR,
    AtomicCheckpointIO,
    InterruptCheckpoint,
    LastCheckpoint,
    RngStates,
    check_checkpoint_file,
    resume_checkpoint,
)
from a2video.engine.datamodule import VideoDataModule
from a2video.engine.module import VideoClassifier
from a2video.engine.precise_bn import PreciseBN
from a2video.engine.runtime import CpuThreads, log_file_progress_bar, quiet_lightning_tips
from a2video.errors import A2VideoError, ConfigError, one_line
from a2video.files import atomic_write_text
from a2video.models import hub

LIGHTNING_SUBCOMMANDS = ("fit", "validate", "test")
# Values of --ckpt_path that Lightning resolves itself rather than reading a file.
_LIGHTNING_CKPT_KEYWORDS = ("last", "best", "hpc", "registry")


class RunConfig(SaveConfigCallback):
    """Save the resolved config in the run folder, one file per subcommand (``config.yaml`` for
    fit, ``test_config.yaml``, ...), overwritten on resume and written atomically."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.already_saved:
            return
        stage = getattr(stage, "value", stage)  # a TrainerFn: its str() is "TrainerFn.TESTING"
        name = "config.yaml" if stage == "fit" else f"{stage}_config.yaml"
        log_dir = trainer.log_dir  # a collective under DDP: every rank asks
        if trainer.is_global_zero and log_dir is not None:
            atomic_write_text(Path(log_dir) / name, self.parser.dump(self.config, skip_none=False))
        self.already_saved = True


def config_error_message(message: str, subcommand: str | None, known_keys: list[str]) -> str:
    """jsonargparse's (often multi-line) parse error as one line, with a close key suggested."""
    text = one_line(message)
    match = re.search(r'Parser key "threads":.*Given value: (.*?);?$', text)
    if match:  # jsonargparse lists the Union's subtypes: say what --threads takes instead
        return f"--threads must be a whole number >= 1 (compute threads), got {match.group(1)!r}"
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


def _train_clip(num_frames: int, crop_size: int) -> tuple[int, int, int]:
    return (num_frames, crop_size, crop_size)


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
        parser.add_argument("--threads", type=Optional[PositiveInt], default=None,
                            help="compute threads (default on a CPU: the free cores less the loader workers; "
                                 "at most the usable cores)")
        parser.add_lightning_class_args(PreciseBN, "precise_bn")
        # The fully convolutional test window is the training clip: derived, never set twice.
        parser.link_arguments(("data.num_frames", "data.crop_size"), "model.train_clip", compute_fn=_train_clip,
                              apply_on="parse")

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
            raise ConfigError(f"the config cannot be set up: {one_line(error)}") from None

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
        extra = [InterruptCheckpoint(), RngStates(), CpuThreads(self._get(self.config_init, "threads"))]
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
            check_checkpoint_file(ckpt_path, container_checked=str(ckpt_path) == getattr(self, "_resumed", None))
        init_from = self.model.hparams.get("init_from")
        if (not ckpt_path and init_from and "://" not in str(init_from) and not hub.is_known(init_from)
                and not Path(init_from).expanduser().is_file()):
            raise A2VideoError(f"model.init_from: checkpoint not found: {init_from}")

    def before_fit(self) -> None:
        config = self.config_init["fit"]
        if config.get("ckpt_path") is None and config.get("resume") == "auto":
            found = resume_checkpoint(self.trainer.default_root_dir)
            if found is not None:
                print(f"a2video: resuming from {found} (pass --resume never to start over)", file=sys.stderr)
                config["ckpt_path"] = self._resumed = str(found)
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


def _cli_arguments(args: list[str]) -> dict[str, Any]:
    """The constructor arguments of every A2VideoCLI, the real run's and :func:`parse_config`'s."""
    # args are passed explicitly so main() can be called from Python; the warning about also
    # seeing sys.argv is then noise.
    warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter is intended.*")
    return {
        "model_class": VideoClassifier,
        "datamodule_class": VideoDataModule,
        "args": args,
        "save_config_callback": RunConfig,
        "seed_everything_default": 0,
        "trainer_defaults": {"use_distributed_sampler": False},  # VideoDataModule's samplers split by rank
        "parser_kwargs": parser_kwargs(),
        # The optimiser and schedule are VideoClassifier's (parameter groups, linear scaling):
        # no --optimizer / --lr_scheduler options that would silently replace them.
        "auto_configure_optimizers": False,
    }


def parse_config(args: list[str]) -> Any:
    """The config that ``a2video <args>`` would run, parsed and checked but not instantiated.

    Returns the subcommand's namespace (``.model``, ``.data``, ``.trainer``, ...). Raises
    :class:`ConfigError` on an unknown key or a value of the wrong type, as the command does.
    """
    cli = _ParseOnlyCLI(**_cli_arguments(args))
    return cli.config[cli.config["subcommand"]]


def parser_kwargs() -> dict[str, Any]:
    """Parse errors raise (and are reported in one line) rather than print the usage and exit."""
    kwargs: dict[str, Any] = {"default_env": False, "exit_on_error": False, "prog": "a2video"}
    for subcommand in LIGHTNING_SUBCOMMANDS:
        kwargs[subcommand] = {"exit_on_error": False}
    return kwargs


class Terminated(A2VideoError):
    """The run was stopped by SIGTERM (a cluster scheduler's time limit, ``kill``)."""

    exit_code = 143  # 128 + SIGTERM, what a shell reports for a process killed by it


def run_lightning(args: list[str]) -> None:
    """Run a LightningCLI subcommand (``fit``, ``validate``, ``test`` and their arguments)."""
    quiet_lightning_tips()
    try:
        A2VideoCLI(**_cli_arguments(args))
    except SIGTERMException:
        # Lightning stops cleanly on SIGTERM (interrupted.ckpt is written) but exits 0, so a
        # scheduler would think the job finished.
        raise Terminated("stopped by SIGTERM; run the same command again to resume") from None
