"""The test loop's outputs: collected per process as arrays, gathered to rank 0, written once.

Kinetics-400 validation is ~20,000 videos × 30 views × 400 classes, about 1 GB of float32 logits.
Each process writes its videos' logits into one array sized for its share of the list; rank 0
receives everyone's in slices of the final, list-ordered array (a ``reduce`` of ~64 MB per slice,
each process contributing the rows it holds), so no process ever holds a second copy of the whole,
and no logits travel as pickled Python objects. ``tools/bench_eval_scale.py`` measures the path.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pytorch_lightning as pl
import torch

from a2video.errors import A2VideoError
from a2video.evaluation import format_summary, write_evaluation
from a2video.evaluation.metrics import to_numpy
from a2video.evaluation.report import write_report

_SLICE_BYTES = 64 * 2**20  # logits sent to rank 0 per collective call


class TestOutputs:
    """What one process scored: list-file index, label, ok flag, error and (V, K) logits per video.

    Args:
        capacity: videos this process will score (its sampler's length), so the logits go into one
            array allocated once; None grows the array as batches come.
    """

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, capacity: int | None = None) -> None:
        self.capacity = capacity
        self.count = 0
        self.logits: np.ndarray | None = None  # (capacity, V, K) float32
        self.meta: dict[str, list[np.ndarray]] = {"index": [], "label": [], "ok": [], "error": []}

    def add(self, *, index: Any, label: Any, ok: Any, error: Sequence[str] | None, logits: torch.Tensor) -> None:
        """One batch: ``logits`` (N, V, K); ``error`` may be None when every video decoded."""
        batch = to_numpy(logits).astype(np.float32, copy=False)  # (N, V, K)
        n = batch.shape[0]
        needed = self.count + n
        if self.logits is None or needed > self.logits.shape[0]:
            size = max(needed, self.capacity or 0, 2 * (0 if self.logits is None else self.logits.shape[0]))
            grown = np.empty((size, *batch.shape[1:]), dtype=np.float32)
            if self.logits is not None:
                grown[: self.count] = self.logits[: self.count]
            self.logits = grown
        self.logits[self.count : needed] = batch
        self.count = needed
        self.meta["index"].append(to_numpy(index).astype(np.int64))
        self.meta["label"].append(to_numpy(label).astype(np.int64))
        self.meta["ok"].append(to_numpy(ok).astype(bool))
        self.meta["error"].append(np.array(list(error) if error else [""] * n, dtype=object))

    def _own(self) -> dict[str, np.ndarray]:
        meta = {key: np.concatenate(parts) if parts else np.zeros(0, dtype=object if key == "error" else np.int64)
                for key, parts in self.meta.items()}
        return meta

    def gather(self, trainer: pl.Trainer) -> dict[str, np.ndarray] | None:
        """All processes' outputs on rank 0 (None elsewhere), sorted by list index, each index once.

        A distributed sampler that pads the last batch with a repeated video is harmless: copies
        of one index are averaged.
        """
        own = self._own()
        if trainer.world_size == 1:
            if self.logits is None:
                return None
            order = np.argsort(own["index"], kind="stable")
            _, first = np.unique(own["index"][order], return_index=True)
            keep = order[first]
            if np.array_equal(keep, np.arange(self.count)):  # the usual case: no copy of the logits
                return {**own, "logits": self.logits[: self.count]}
            return {**{k: v[keep] for k, v in own.items()}, "logits": self.logits[keep]}
        everyone: list[Any] = [None] * trainer.world_size
        shape = None if self.logits is None else self.logits.shape[1:]
        torch.distributed.all_gather_object(everyone, (own, shape))  # small: no logits
        shape = next((s for _, s in everyone if s is not None), None)
        if shape is None:
            return None
        meta = {key: np.concatenate([part[key] for part, _ in everyone]) for key in own}
        present, first = np.unique(meta["index"], return_index=True)
        position = np.searchsorted(present, own["index"])  # row of each of this rank's videos
        logits = self._reduce_to_rank0(trainer, position, len(present), shape)
        if not trainer.is_global_zero:
            return None
        return {**{key: value[first] for key, value in meta.items()}, "logits": logits}

    def _reduce_to_rank0(self, trainer: pl.Trainer, position: np.ndarray, total: int,
                         shape: tuple[int, ...]) -> np.ndarray | None:
        """The (total, V, K) logits in list order on rank 0, built slice by slice with a sum-reduce
        to which each process contributes its rows (and 1 per row in a count, to average copies)."""
        device = trainer.strategy.root_device
        rows_per_slice = max(1, _SLICE_BYTES // (4 * int(np.prod(shape))))
        result = np.empty((total, *shape), dtype=np.float32) if trainer.is_global_zero else None
        for start in range(0, total, rows_per_slice):
            stop = min(total, start + rows_per_slice)
            mine = np.flatnonzero((position >= start) & (position < stop))
            block = torch.zeros((stop - start, *shape), dtype=torch.float32)
            counts = torch.zeros(stop - start, dtype=torch.float32)
            block[position[mine] - start] = torch.from_numpy(self.logits[mine])
            counts[position[mine] - start] = 1.0
            block, counts = block.to(device), counts.to(device)
            torch.distributed.reduce(block, dst=0)
            torch.distributed.reduce(counts, dst=0)
            if result is not None:
                result[start:stop] = (block / counts.clamp(min=1).view(-1, *[1] * len(shape))).cpu().numpy()
        return result


def evaluation_dir(trainer: pl.Trainer, eval_dir: str | None) -> Path:
    """``eval_dir`` if set, else ``<run folder>/test``. Call it on every rank: under DDP,
    ``trainer.log_dir`` broadcasts rank 0's folder."""
    if eval_dir:
        return Path(eval_dir)
    return Path(trainer.log_dir or trainer.default_root_dir) / "test"


def write_test_results(outputs: dict[str, np.ndarray] | None, out_dir: str | Path, *,
                       samples: Sequence[tuple[str, int]], class_names: Sequence[str], aggregate: str,
                       views: tuple[int, int] | None = None, partial: bool = False, report: bool = True,
                       video_root: str | None = None) -> dict[str, Any]:
    """Write metrics.json, predictions.csv, view_logits.npz and confusion.png (and report.html with
    the analysis files); print a summary.

    Args:
        outputs: :meth:`TestOutputs.gather`'s arrays, sorted by list index.
        out_dir: where the files go.
        samples: the test list, ``(path, label)`` per row.
        class_names: the classes, in label order.
        aggregate: how views are combined per video (``"softmax"`` or ``"logits"``).
        views: (clips, crops) per video, recorded so the analysis knows which view is which.
        partial: the run was limited (``limit_test_batches``): score the prefix that was tested.
            Otherwise every video of the list must be present: a failed one arrives with
            ``ok=False`` and is counted as wrong, never dropped.
        report: also write ``report.html`` (:func:`a2video.evaluation.report.write_report`); a
            failure there is a warning, the results above are already written.
        video_root: where the videos are, for the report's thumbnails.
    """
    indices = outputs["index"] if outputs is not None else np.zeros(0, dtype=np.int64)
    absent = np.setdiff1d(np.arange(len(samples)), indices)
    if (absent.size and not partial) or indices.size == 0:
        first = samples[int(absent[0])][0] if absent.size else "none"
        raise A2VideoError(f"{absent.size} of {len(samples)} test videos produced no output (first: {first})")
    logits = outputs["logits"]
    logits[~outputs["ok"]] = np.nan  # a failed video's black-frame logits are not a prediction (in place: ~1 GB)
    metrics = write_evaluation(
        out_dir,
        paths=[str(samples[i][0]) for i in indices],
        labels=outputs["label"], ok=outputs["ok"], errors=[str(e) for e in outputs["error"]],
        view_logits=logits, class_names=list(class_names), aggregate=aggregate,
        clips=views[0] if views else None, crops=views[1] if views else None,
    )
    print(format_summary(metrics, out_dir), flush=True)
    if report:
        try:
            print(f"report: {write_report(out_dir, video_root=video_root)}", flush=True)
        except A2VideoError as error:
            print(f"a2video: warning: no report.html: {error.message()}", file=sys.stderr)
    return metrics
