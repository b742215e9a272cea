"""The test loop's outputs: collected per process as a few arrays, gathered to rank 0, written once.

Kinetics-400 validation is ~20,000 videos × 30 views × 400 classes, about 1 GB of float32 logits:
they are kept as per-batch NumPy arrays (not a Python object per video) and sent to rank 0 with one
``gather_object`` of a handful of arrays per rank, so rank 0 holds the logits once plus one rank's
share in transit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pytorch_lightning as pl
import torch

from a2video.errors import A2VideoError
from a2video.evaluation import format_summary, write_evaluation
from a2video.evaluation.metrics import to_numpy


class TestOutputs:
    """What one process scored: list-file index, label, ok flag, error and (V, K) logits per video."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self) -> None:
        self.parts: list[dict[str, Any]] = []

    def add(self, *, index: Any, label: Any, ok: Any, error: Sequence[str] | None, logits: torch.Tensor) -> None:
        """One batch: ``logits`` (N, V, K); ``error`` may be None when every video decoded."""
        n = logits.shape[0]
        self.parts.append({
            "index": to_numpy(index).astype(np.int64), "label": to_numpy(label).astype(np.int64),
            "ok": to_numpy(ok).astype(bool), "error": np.array(list(error) if error else [""] * n, dtype=object),
            "logits": to_numpy(logits).astype(np.float32),
        })

    def arrays(self) -> dict[str, np.ndarray] | None:
        """The batches concatenated (None when this process scored nothing)."""
        if not self.parts:
            return None
        return {key: np.concatenate([part[key] for part in self.parts]) for key in self.parts[0]}

    def gather(self, trainer: pl.Trainer) -> dict[str, np.ndarray] | None:
        """All processes' outputs on rank 0 (None elsewhere), each list index once.

        A distributed sampler may pad the last batch with a repeated video; the first copy is kept.
        """
        mine = self.arrays()
        if trainer.world_size > 1:
            parts: list[Any] = [None] * trainer.world_size if trainer.is_global_zero else None  # type: ignore[assignment]
            torch.distributed.gather_object(mine, parts, dst=0)
            if not trainer.is_global_zero:
                return None
            parts = [p for p in parts if p is not None]
            if not parts:
                return None
            mine = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        if mine is None:
            return None
        _, first = np.unique(mine["index"], return_index=True)
        return {key: value[first] for key, value in mine.items()}  # sorted by list index


def evaluation_dir(trainer: pl.Trainer, eval_dir: str | None) -> Path:
    """``eval_dir`` if set, else ``<run folder>/test``. Call it on every rank: under DDP,
    ``trainer.log_dir`` broadcasts rank 0's folder."""
    if eval_dir:
        return Path(eval_dir)
    return Path(trainer.log_dir or trainer.default_root_dir) / "test"


def write_test_results(outputs: dict[str, np.ndarray] | None, out_dir: str | Path, *,
                       samples: Sequence[tuple[str, int]], class_names: Sequence[str], aggregate: str,
                       partial: bool = False) -> dict[str, Any]:
    """Write metrics.json, predictions.csv, view_logits.npz and confusion.png; print a summary.

    Args:
        outputs: :meth:`TestOutputs.gather`'s arrays, sorted by list index.
        out_dir: where the files go.
        samples: the test list, ``(path, label)`` per row.
        class_names: the classes, in label order.
        aggregate: how views are combined per video (``"softmax"`` or ``"logits"``).
        partial: the run was limited (``limit_test_batches``): score the prefix that was tested.
            Otherwise every video of the list must be present: a failed one arrives with
            ``ok=False`` and is counted as wrong, never dropped.
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
    )
    print(format_summary(metrics, out_dir), flush=True)
    return metrics
