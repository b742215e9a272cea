"""What a run does to its process and its output: CPU threads, progress bars, Lightning's noise."""

from __future__ import annotations

import logging
import os
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, ProgressBar, TQDMProgressBar

from a2video.cores import usable_cores

log = logging.getLogger(__name__)


def cpu_threads(num_workers: int, processes: int = 1) -> int | None:
    """Compute threads per training process on a CPU: the cores left after the loader workers.

    OpenMP threads that share cores with worker processes (or with other training processes)
    wait for each other at every parallel region; on a 2-core machine two threads beside two busy
    workers made a training step 17 times slower than one thread. Cores are counted within the
    cgroup's CPU quota (:mod:`a2video.cores`). None when the user has chosen
    (``OMP_NUM_THREADS`` is set).
    """
    if os.environ.get("OMP_NUM_THREADS"):
        return None
    return max(1, usable_cores() // max(1, processes) - num_workers)


class CpuThreads(Callback):
    """On a CPU run, give torch the cores the loader workers and the other processes leave."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if trainer.strategy.root_device.type != "cpu":
            return
        workers = getattr(getattr(trainer, "datamodule", None), "num_workers", 0) or 0
        threads = cpu_threads(workers, processes=trainer.num_devices)
        if threads is not None:
            torch.set_num_threads(threads)
            log.info("CPU run: %d compute threads beside %d loader workers", threads, workers)


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


class _NoTips(logging.Filter):
    """Drop Lightning's advertising tips (e.g. for its cloud logger) from every run's output."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


def quiet_lightning_tips() -> None:
    """Install :class:`_NoTips` once on Lightning's rank-zero logger."""
    lightning_log = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    if not any(isinstance(f, _NoTips) for f in lightning_log.filters):
        lightning_log.addFilter(_NoTips())
