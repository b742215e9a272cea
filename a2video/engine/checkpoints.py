"""A run folder's checkpoints: written atomically, every epoch and on interruption, resumed exactly.

    <run>/checkpoints/last.ckpt         after every training epoch (the resume point)
    <run>/checkpoints/best-*.ckpt       best by val/clip_top1 (Lightning's ModelCheckpoint)
    <run>/checkpoints/interrupted.ckpt  when training stops on an exception, Ctrl-C or SIGTERM

Exact resume needs, besides Lightning's own state, the RNG states (:class:`RngStates`) and a loader
that skips the batches already done (``a2video.data.loader``). A checkpoint that cannot be read
(a copy cut short, a disk that lied) is skipped by :func:`resume_checkpoint` with a warning; a save
that fails (a full disk) is one :class:`CheckpointWriteError` line naming the path, the free space
and the previous checkpoint, which stays intact.
"""

from __future__ import annotations

import errno
import random
import shutil
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from pytorch_lightning.plugins import TorchCheckpointIO

from a2video.errors import A2VideoError, one_line
from a2video.files import atomic_write


CHECKPOINT_DIR = "checkpoints"
# The network a checkpoint holds; these hyperparameters must match the config that loads it.
ARCHITECTURE_KEYS = ("model", "num_classes", "base_width", "model_kwargs")


class CheckpointWriteError(A2VideoError):
    """A checkpoint could not be written (full disk, permissions, ...)."""


# ---------------------------------------------------------------- writing
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
        try:
            atomic_write(path, lambda f: torch.save(checkpoint, f))
        except (OSError, RuntimeError) as error:
            cause = _write_os_error(error)
            if cause is None:
                raise
            raise CheckpointWriteError(write_failure_message(Path(path), cause)) from None


def _write_os_error(error: BaseException) -> OSError | None:
    """The ``OSError`` behind a failed save, or None when the failure was not the file's.

    On a real full disk torch's zip writer does not let the ``OSError`` of the short write
    through: it raises ``RuntimeError: [enforce fail at inline_container.cc] unexpected pos``
    from its end-of-file record, with the ``OSError`` only in the exception's context.
    """
    seen = error
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    if isinstance(error, RuntimeError) and "inline_container" in str(error):
        return OSError(errno.EIO, f"the checkpoint writer stopped ({one_line(error, limit=120)})")
    return None


def write_failure_message(path: Path, error: OSError) -> str:
    """One line: what failed, the free space where it failed, and which checkpoint is still good."""
    reason = error.strerror or str(error)
    if error.errno == errno.ENOSPC:
        reason = "the disk is full"
    try:
        free = f"{shutil.disk_usage(path.parent).free / 2**20:.1f} MiB free in {path.parent}"
    except OSError:
        free = f"free space in {path.parent} unknown"
    previous = [p for p in (path, *sorted(path.parent.glob("*.ckpt"), key=_mtime, reverse=True)) if p.is_file()]
    intact = (f"the previous {previous[0]} ({time.strftime('%Y-%m-%d %H:%M', time.localtime(_mtime(previous[0])))}) "
              "is intact") if previous else "no earlier checkpoint exists"
    return f"cannot write checkpoint {path}: {reason} ({free}); {intact}"


def _mtime(path: Path) -> float:
    return path.stat().st_mtime


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
    """Save ``checkpoints/interrupted.ckpt`` when training stops on an exception (Ctrl-C and
    SIGTERM included), so the steps done since the last checkpoint are not lost."""

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if trainer.state.fn != "fit" or trainer.global_step == 0 or trainer.sanity_checking:
            return
        if isinstance(exception, CheckpointWriteError):
            return  # the disk just refused a checkpoint: another one would fail the same way
        path = Path(trainer.default_root_dir) / CHECKPOINT_DIR / "interrupted.ckpt"
        try:
            if trainer.world_size > 1 and not isinstance(exception, (KeyboardInterrupt, SystemExit)):
                # An error raised on one rank only: trainer.save_checkpoint would wait at a barrier for
                # ranks that never come. The failing rank writes its own state without the barrier
                # (weights and optimiser are replicated under DDP). It cannot be left to rank 0: rank 0
                # only hears of the failure when a collective breaks, and Lightning's launcher SIGKILLs
                # it within 5 s of a child rank exiting with an error, often before it could save.
                # Ranks that both fail write complete files (atomic rename); the last one stays.
                trainer.strategy.checkpoint_io.save_checkpoint(trainer._checkpoint_connector.dump_checkpoint(), path)
                print(f"\na2video: {_what(exception)} on rank {trainer.global_rank} at step "
                      f"{trainer.global_step}; saved {path}", file=sys.stderr)
                return
            trainer.save_checkpoint(path)  # every rank takes part; rank 0 writes
        except CheckpointWriteError as error:
            print(f"\na2video: {_what(exception)} at step {trainer.global_step}, and {error}", file=sys.stderr)
            return
        if trainer.global_rank == 0:
            print(f"\na2video: {_what(exception)} at step {trainer.global_step}; saved {path}", file=sys.stderr)


def _what(exception: BaseException) -> str:
    return "SIGTERM" if isinstance(exception, SystemExit) else type(exception).__name__


# ---------------------------------------------------------------- resuming
def checkpoint_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be a training checkpoint (None when it looks complete).

    Checks the zip container torch writes (a truncated copy loses its central directory; a flipped
    byte fails a CRC) without unpickling anything, so a scan of a run folder stays cheap.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            names = archive.namelist()
    except FileNotFoundError:
        return "file not found"
    except zipfile.BadZipFile:
        size = path.stat().st_size
        return f"not a complete checkpoint ({size} bytes; truncated, or not written by torch.save)"
    except OSError as error:
        return f"unreadable: {error.strerror or error}"
    if bad is not None:
        return f"corrupt (checksum error in {bad})"
    if not any(name.endswith("data.pkl") for name in names):
        return "not a torch checkpoint"
    return None


def resume_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest readable checkpoint of a run folder (last, interrupted or best), if any.

    Unreadable ones are skipped with a warning that names them. When checkpoints exist but none is
    readable, a :class:`~a2video.errors.A2VideoError` says so and how to start over.
    """
    folder = Path(run_dir) / CHECKPOINT_DIR
    candidates = sorted(folder.glob("*.ckpt"), key=_mtime, reverse=True) if folder.is_dir() else []
    skipped = []
    for path in candidates:
        problem = checkpoint_problem(path)
        if problem is None:
            for bad, why in skipped:
                print(f"a2video: warning: skipping {bad}: {why}", file=sys.stderr)
            return path
        skipped.append((path, problem))
    if skipped:
        listed = "; ".join(f"{p.name}: {why}" for p, why in skipped)
        raise A2VideoError(f"no readable checkpoint in {folder} ({listed}); pass --resume never to start the run "
                           "over, or --ckpt_path to resume from another file")
    return None


def check_checkpoint_file(path: str | Path, option: str = "ckpt_path", *, container_checked: bool = False) -> None:
    """One-line error when ``path`` is missing or not a readable checkpoint.

    ``container_checked``: :func:`checkpoint_problem` has just passed it (:func:`resume_checkpoint`
    found it), so the CRCs of a multi-gigabyte file are not read a second time.
    """
    if not Path(path).is_file():
        raise A2VideoError(f"{option}: checkpoint not found: {path}")
    problem = None if container_checked else checkpoint_problem(path)
    if problem is not None:
        raise A2VideoError(f"{option}: {path} cannot be used: {problem}")
    try:  # tensors stay on disk (mmap): only the small pickled structure is read
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # a pickle of foreign classes, ...
        raise A2VideoError(f"{option}: {path} cannot be read: {type(error).__name__}: "
                           f"{one_line(error, limit=200)}") from None
    if not isinstance(state, dict) or not {"state_dict", "global_step"} <= set(state):
        raise A2VideoError(f"{option}: {path} is not a training checkpoint (for weights to start from, use "
                           "model.init_from)")


def finished_epochs(path: str | Path) -> int:
    """Training epochs completed when an end-of-epoch checkpoint (``last.ckpt``) was saved; 0 when
    it is missing or unreadable."""
    if checkpoint_problem(path) is not None:
        return 0
    state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return int(state.get("epoch", -1)) + 1  # saved in on_train_epoch_end of the 0-based epoch


def best_checkpoint(run_dir: str | Path) -> Path:
    """The best-k checkpoint of a run (by the monitored metric), else ``last.ckpt``."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    best = sorted(folder.glob("best-*.ckpt"), key=_mtime)
    if best:
        return best[-1]
    last = folder / "last.ckpt"
    if not last.is_file():
        raise A2VideoError(f"no checkpoint in {folder}")
    return last


def check_same_network(config: Any, saved: dict[str, Any]) -> None:
    """Raise a one-line :class:`A2VideoError` when a checkpoint's network differs from the config's.

    Weights come from the checkpoint, settings from the config; a mismatch would otherwise surface
    as a ``state_dict`` size error listing hundreds of tensors.
    """
    different = [f"model.{key}: config {config.get(key)!r}, checkpoint {saved[key]!r}"
                 for key in ARCHITECTURE_KEYS
                 if key in saved and (config.get(key) or None) != (saved[key] or None)]
    if different:
        raise A2VideoError(f"the checkpoint holds another network than the config ({'; '.join(different)})")


# ---------------------------------------------------------------- RNG state
class RngStates(Callback):
    """Save the torch/NumPy/Python RNG states in every checkpoint and restore them when training
    resumes (at train start: after the sanity check, which an uninterrupted run never does)."""

    def __init__(self) -> None:
        self._to_restore: dict[str, Any] | None = None

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        checkpoint["rng_states"] = capture_rng_states()

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        self._to_restore = checkpoint.get("rng_states")

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        states, self._to_restore = self._to_restore, None
        if states:
            restore_rng_states(states)


def capture_rng_states() -> dict[str, Any]:
    """RNG states as tensors and ints, so checkpoints load with ``torch.load(weights_only=True)``."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": random.getstate(),
    }


def restore_rng_states(states: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_states`."""
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    state = states["numpy"]
    np.random.set_state(("MT19937", state["keys"].numpy().astype(np.uint32), state["pos"],
                         state["has_gauss"], state["cached"]))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
