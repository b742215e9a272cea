"""Turn the test loop's per-view logits into the evaluation files (rank 0 only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl

from a2video.errors import A2VideoError
from a2video.evaluation import format_summary, write_evaluation


def evaluation_dir(module: pl.LightningModule) -> Path:
    """``eval_dir`` if set, else ``<run folder>/test``. Call it on every rank: under DDP,
    ``trainer.log_dir`` broadcasts rank 0's folder."""
    if module.hparams.get("eval_dir"):
        return Path(module.hparams.eval_dir)
    trainer = module.trainer
    return Path(trainer.log_dir or trainer.default_root_dir) / "test"


def write_test_results(module: pl.LightningModule, outputs: list[dict[str, Any]],
                       out_dir: str | Path | None = None) -> dict[str, Any]:
    """Write metrics.json, predictions.csv, view_logits.npz and confusion.png; print a summary.

    ``out_dir`` defaults to :func:`evaluation_dir`. ``outputs`` holds one row per video from every rank; a video seen twice (a sampler that pads)
    is kept once. Every video of the test list must be present: a failed one arrives with
    ``ok=False`` and is counted as wrong, never dropped.
    """
    datamodule = module.trainer.datamodule
    samples = datamodule.eval_samples("test")
    rows = {row["index"]: row for row in outputs}
    absent = [i for i in range(len(samples)) if i not in rows]
    if absent and module.trainer.limit_test_batches in (1.0, None):
        raise A2VideoError(f"{len(absent)} test videos produced no output (first: {samples[absent[0]][0]})")
    indices = sorted(rows)  # a limited test run (limit_test_batches) scores a prefix of the list
    views = next(row["logits"] for row in rows.values()).shape
    logits = np.full((len(indices), *views), np.nan, dtype=np.float32)
    for position, index in enumerate(indices):
        if rows[index]["ok"]:
            logits[position] = rows[index]["logits"]
    out_dir = Path(out_dir) if out_dir is not None else evaluation_dir(module)
    metrics = write_evaluation(
        out_dir,
        paths=[str(samples[i][0]) for i in indices],
        labels=np.array([rows[i]["label"] for i in indices]),
        ok=np.array([rows[i]["ok"] for i in indices]),
        errors=[rows[i]["error"] for i in indices],
        view_logits=logits,
        class_names=list(datamodule.class_names),
        aggregate=module.hparams.aggregate,
    )
    print(format_summary(metrics, out_dir), flush=True)
    return metrics
