"""Several analysed test runs side by side: the ensemble of runs over the same videos, the mean
of splits over disjoint ones (the three UCF-101 splits)."""

from __future__ import annotations

from typing import Any

import numpy as np

from a2video.evaluation.analysis import AnalysisError, RunAnalysis, TestRun
from a2video.evaluation.metrics import label_ranks, mean_class_accuracy
from a2video.evaluation.splits import average_splits
from a2video.evaluation.writers import METRICS_FILE


def compare_runs(analyses: list[RunAnalysis]) -> dict[str, Any]:
    """Several runs side by side.

    Same classes and the same videos: their ensemble (mean of the runs' video probabilities; a
    video failed in some runs takes the mean of the others, failed in all counts wrong). Same
    classes and disjoint videos (e.g. the three UCF-101 splits): the mean of their accuracies.

    Args:
        analyses: At least two analysed runs.

    Returns:
        ``kind`` (``"ensemble"``, ``"splits"`` or ``"unrelated"``), ``reason``, ``runs`` (name
        and accuracies of each), and ``ensemble`` or ``splits`` (``average_splits``'s result).
    """
    runs = [a.run for a in analyses]
    table = [{"name": r.name, **{key: r.metrics.get(key) for key in
              ("clip_top1", "video_top1", "video_top5", "mean_class_accuracy", "num_videos")}} for r in runs]
    result: dict[str, Any] = {"runs": table, "kind": "unrelated"}
    if any(r.class_names != runs[0].class_names for r in runs):
        result["reason"] = "the runs have different classes"
        return result
    rows = _aligned_rows(runs)
    if rows is not None:
        result.update(kind="ensemble", reason="the runs cover the same videos",
                      ensemble=_ensemble(analyses, rows))
        return result
    path_sets = [set(r.paths) for r in runs]
    if sum(len(s) for s in path_sets) == len(set().union(*path_sets)):
        splits = average_splits([r.folder / METRICS_FILE for r in runs], names=[r.name for r in runs])
        result.update(kind="splits", reason=f"the runs cover disjoint videos: mean of {len(runs)} splits",
                      splits=splits)
        return result
    result["reason"] = "the runs share some videos but not all: no ensemble, no split mean"
    return result


def _aligned_rows(runs: list[TestRun]) -> list[np.ndarray] | None:
    """Row of each run's video i for the first run's order, or None if the videos differ."""
    first = runs[0].paths
    if all(r.paths == first for r in runs):
        return [np.arange(len(first))] * len(runs)
    if any(len(set(r.paths)) != len(r.paths) or set(r.paths) != set(first) for r in runs):
        return None
    rows = []
    for run in runs:
        where = {path: i for i, path in enumerate(run.paths)}
        rows.append(np.array([where[path] for path in first], dtype=np.int64))
    return rows


def _ensemble(analyses: list[RunAnalysis], rows: list[np.ndarray]) -> dict[str, Any]:
    first = analyses[0].run
    n, k = first.num_videos, len(first.class_names)
    total = np.zeros((n, k))
    members = np.zeros(n, dtype=np.int64)
    for analysis, row in zip(analyses, rows):
        run = analysis.run
        position = np.full(run.num_videos, -1, dtype=np.int64)  # run row -> row in probabilities
        position[run.ok] = np.arange(int(run.ok.sum()))
        here = position[row]  # (n,) for the first run's order
        has = here >= 0
        total[has] += analysis.probabilities[here[has]]
        members += has
        if not np.array_equal(run.labels[row], first.labels):
            raise AnalysisError(f"{run.folder}: same videos as {first.folder} but different labels")
    scored = members > 0
    probs = total[scored] / members[scored, None]  # (n_scored, K)
    rank = np.full(n, k, dtype=np.int64)  # rank k: failed in every run, counted wrong
    rank[scored] = label_ranks(probs, first.labels[scored])
    top_k = min(5, k)
    return {"video_top1": 100.0 * float((rank < 1).mean()), "video_top5": 100.0 * float((rank < top_k).mean()),
            "mean_class_accuracy": mean_class_accuracy(first.labels, rank < 1),
            "num_videos": n, "num_failed_in_all": int((~scored).sum())}
