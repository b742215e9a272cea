"""What a run does to its process and its output: CPU threads, progress bars, Lightning's noise."""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, ProgressBar, TQDMProgressBar

from a2video.threads import choose_threads

log = logging.getLogger(__name__)


def cpu_threads(num_workers: int, processes: int = 1) -> int | None:
    """Compute threads per training process on an idle CPU: the cores left after the loader workers.

    OpenMP threads that share cores with worker processes (or with other training processes)
    wait for each other at every parallel region; on a 2-core machine two threads beside two busy
    workers made a training step 17 times slower than one thread. Cores are counted within the
    cgroup's CPU quota (:mod:`a2video.cores`). None when the user has chosen
    (``OMP_NUM_THREADS`` is set). A run also leaves out the cores other processes keep busy when
    it starts (:func:`a2video.threads.choose_threads`); this is the count of an idle machine.
    """
    return choose_threads(workers=num_workers, processes=processes, busy=0.0).threads


class CpuThreads(Callback):
    """Give torch the cores the loader workers, the other ranks and other processes leave (on a CPU
    run), or ``--threads`` (on any run); torch's count is restored at teardown."""

    def __init__(self, requested: int | None = None) -> None:
        self.requested = requested
        self._previous: int | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.requested is None and trainer.strategy.root_device.type != "cpu":
            return
        workers = getattr(getattr(trainer, "datamodule", None), "num_workers", 0) or 0
        choice = choose_threads(self.requested, workers=workers, processes=trainer.num_devices)
        if choice.threads is None:
            return
        self._previous = torch.get_num_threads()
        torch.set_num_threads(choice.threads)
        log.info("%s beside %d loader workers", choice.describe(), workers)
        if trainer.is_global_zero and (choice.busy or choice.requested not in (None, choice.threads)):
            print(f"a2video: {choice.describe()}", file=sys.stderr)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self._previous is not None:
            torch.set_num_threads(self._previous)
            self._previous = None


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
