"""Clip and video accuracy from per-view logits (SPEC §4).

Conventions used throughout the evaluation package:

* Accuracies are **percentages in [0, 100]**; keys end in ``_top1`` / ``_top5``.
* "top-5" means top-``min(5, K)``: with fewer than 5 classes every key keeps its name and
  ``top_k`` records the k actually used.
* A failed video (``ok`` False, e.g. undecodable) is never dropped: each of its ``V`` views counts
  as a wrong clip, and the video counts as wrong for video top-1/top-5 and for its class in the mean
  class accuracy. Failed videos are left out of the confusion matrix, which has no column for
  "no prediction"; the figure's title says how many were left out.
* Ties between classes are broken towards the lower class index, the same order as a stable sort
  of descending scores, so "top-k" is well defined even for constant logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

AGGREGATES = ("softmax", "logits")
# Videos processed at once: bounds the float64 working copy for Kinetics-sized runs
# (20k videos x 30 views x 400 classes would otherwise need ~2 GB per temporary).
_CHUNK_VIDEOS = 512


@dataclass(frozen=True)
class EvaluationResult:
    """Accuracy summary and per-video predictions of one multi-view evaluation.

    Attributes:
        clip_top1: Percentage of all ``num_videos * views_per_video`` views whose own top-1 class
            is the label (failed videos' views count as wrong).
        clip_top5: Same with top-``top_k``.
        video_top1: Percentage of videos whose aggregated top-1 class is the label.
        video_top5: Same with top-``top_k``.
        mean_class_accuracy: Mean over the classes present in the labels of each class's video
            top-1 percentage.
        num_videos: Videos evaluated, failed ones included.
        num_failed_videos: Videos with ``ok`` False.
        views_per_video: Views per video (V).
        num_classes: Classes (K).
        top_k: ``min(5, K)``, the k behind every ``*_top5`` value.
        aggregate: ``"softmax"`` (mean of the views' probabilities) or ``"logits"`` (mean of the
            views' logits).
        predictions: (num_videos,) predicted class per video; -1 for failed videos.
        topk_classes: (num_videos, top_k) classes by decreasing score; -1 for failed videos.
        topk_scores: (num_videos, top_k) aggregated probabilities of those classes (for
            ``"logits"``: softmax of the mean logits); NaN for failed videos.
        confusion: (K, K) int64 counts, rows = true class, columns = predicted class, over the
            videos that did not fail.
    """

    clip_top1: float
    clip_top5: float
    video_top1: float
    video_top5: float
    mean_class_accuracy: float
    num_videos: int
    num_failed_videos: int
    views_per_video: int
    num_classes: int
    top_k: int
    aggregate: str
    predictions: np.ndarray
    topk_classes: np.ndarray
    topk_scores: np.ndarray
    confusion: np.ndarray

    def summary(self) -> dict[str, Any]:
        """Returns the scalar metrics as plain JSON-ready Python values."""
        return {
            "clip_top1": self.clip_top1,
            "clip_top5": self.clip_top5,
            "video_top1": self.video_top1,
            "video_top5": self.video_top5,
            "mean_class_accuracy": self.mean_class_accuracy,
            "num_videos": self.num_videos,
            "num_failed_videos": self.num_failed_videos,
            "views_per_video": self.views_per_video,
            "num_classes": self.num_classes,
            "top_k": self.top_k,
            "aggregate": self.aggregate,
            "accuracy_unit": "percent",
        }


def to_numpy(x: Any) -> np.ndarray:
    """Converts a NumPy array, sequence or torch tensor (any device, grad, bf16) to NumPy.

    Args:
        x: Array-like input.

    Returns:
        A NumPy array; floating torch tensors become float32 because NumPy has no bfloat16.
    """
    if hasattr(x, "detach"):  # torch.Tensor, without importing torch here
        x = x.detach().cpu()
        if x.is_floating_point():
            x = x.float()
        return x.numpy()
    return np.asarray(x)


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax in float64.

    Args:
        logits: Scores of any shape.
        axis: Axis over which the result sums to 1.

    Returns:
        Probabilities with the shape of ``logits``.
    """
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)  # exp of non-positive numbers cannot overflow
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def aggregate_views(view_logits: np.ndarray, aggregate: str = "softmax") -> tuple[np.ndarray, np.ndarray]:
    """Combines the views of each video into one score vector.

    Args:
        view_logits: (N, V, K) logits, all finite.
        aggregate: ``"softmax"`` averages the views' probabilities, ``"logits"`` their logits.

    Returns:
        ``(ranking, probabilities)``, both (N, K) float64. ``ranking`` orders the classes (mean
        probabilities or mean logits); ``probabilities`` are the scores to report (equal to
        ``ranking`` for ``"softmax"``, softmax of the mean logits for ``"logits"``). They are kept
        apart so that rounding in the softmax can never change the ``"logits"`` ranking.
    """
    _check_aggregate(aggregate)
    if aggregate == "softmax":
        probs = softmax(view_logits).mean(axis=1)
        return probs, probs
    mean_logits = np.asarray(view_logits, dtype=np.float64).mean(axis=1)
    return mean_logits, softmax(mean_logits)


def label_ranks(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """0-based rank of each row's label class, ties going to the lower class index.

    Args:
        scores: (..., K) scores.
        labels: Integer labels broadcastable to ``scores.shape[:-1]``.

    Returns:
        Integer ranks with shape ``scores.shape[:-1]``; the label is in the top-k iff rank < k.
    """
    labels = np.broadcast_to(labels, scores.shape[:-1])
    own = np.take_along_axis(scores, labels[..., None], axis=-1)
    lower_index = np.arange(scores.shape[-1]) < labels[..., None]
    # Counting beaten-by classes instead of sorting: O(K) per row and equal to the position
    # in a stable descending sort.
    return ((scores > own) | ((scores == own) & lower_index)).sum(axis=-1)


def compute_metrics(
    view_logits: Any, labels: Any, ok: Any, aggregate: str = "softmax"
) -> EvaluationResult:
    """Scores a multi-view evaluation.

    Args:
        view_logits: (num_videos, V, K) logits. Rows of failed videos are ignored and may hold NaN;
            rows of videos that did not fail must be finite.
        labels: (num_videos,) integer labels in [0, K), failed videos included.
        ok: (num_videos,) booleans, False for videos that could not be scored.
        aggregate: ``"softmax"`` (default) or ``"logits"``; see ``aggregate_views``.

    Returns:
        The accuracy summary, per-video predictions and the confusion matrix.

    Raises:
        ValueError: On inconsistent shapes, labels out of range, an unknown ``aggregate``, no
            videos, or non-finite logits for a video marked ok.
    """
    _check_aggregate(aggregate)
    logits, labels, ok = _validate(to_numpy(view_logits), to_numpy(labels), to_numpy(ok))
    n, v, k = logits.shape
    top_k = min(5, k)

    predictions = np.full(n, -1, dtype=np.int64)
    topk_classes = np.full((n, top_k), -1, dtype=np.int64)
    topk_scores = np.full((n, top_k), np.nan)
    video_rank = np.full(n, k, dtype=np.int64)  # rank k = "not in any top-k": failed videos
    clip_top1 = clip_topk = 0
    for start in range(0, n, _CHUNK_VIDEOS):
        idx = np.flatnonzero(ok[start : start + _CHUNK_VIDEOS]) + start
        if idx.size == 0:
            continue
        chunk = logits[idx].astype(np.float64)
        y = labels[idx]
        view_rank = label_ranks(chunk, y[:, None])
        clip_top1 += int((view_rank < 1).sum())
        clip_topk += int((view_rank < top_k).sum())
        ranking, probs = aggregate_views(chunk, aggregate)
        video_rank[idx] = label_ranks(ranking, y)
        order = np.argsort(-ranking, axis=1, kind="stable")[:, :top_k]
        topk_classes[idx] = order
        topk_scores[idx] = np.take_along_axis(probs, order, axis=1)
        predictions[idx] = order[:, 0]

    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (labels[ok], predictions[ok]), 1)
    return EvaluationResult(
        clip_top1=100.0 * clip_top1 / (n * v),
        clip_top5=100.0 * clip_topk / (n * v),
        video_top1=100.0 * float((video_rank < 1).mean()),
        video_top5=100.0 * float((video_rank < top_k).mean()),
        mean_class_accuracy=mean_class_accuracy(labels, video_rank < 1),
        num_videos=n,
        num_failed_videos=int((~ok).sum()),
        views_per_video=v,
        num_classes=k,
        top_k=top_k,
        aggregate=aggregate,
        predictions=predictions,
        topk_classes=topk_classes,
        topk_scores=topk_scores,
        confusion=confusion,
    )


def mean_class_accuracy(labels: np.ndarray, correct: np.ndarray) -> float:
    """Mean over the classes present in ``labels`` of the percentage of correct videos.

    Args:
        labels: (N,) integer labels.
        correct: (N,) booleans (failed videos False).

    Returns:
        The unweighted mean of per-class accuracies, in percent.
    """
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    hits = np.bincount(inverse, weights=correct.astype(np.float64), minlength=classes.size)
    return 100.0 * float((hits / counts).mean())


def _check_aggregate(aggregate: str) -> None:
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")


def _validate(
    logits: np.ndarray, labels: np.ndarray, ok: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if logits.ndim != 3:
        raise ValueError(f"view_logits must be (num_videos, views, classes), got shape {logits.shape}")
    n, v, k = logits.shape
    if n == 0 or v == 0 or k == 0:
        raise ValueError(f"nothing to evaluate: view_logits has shape {logits.shape}")
    if labels.shape != (n,) or ok.shape != (n,):
        raise ValueError(
            f"labels {labels.shape} and ok {ok.shape} must both be ({n},) to match view_logits {logits.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    if ok.dtype != np.bool_:
        raise ValueError(f"ok must be booleans, got dtype {ok.dtype}")
    bad = np.flatnonzero((labels < 0) | (labels >= k))
    if bad.size:
        raise ValueError(f"label {labels[bad[0]]} of video {bad[0]} is outside [0, {k})")
    bad = np.flatnonzero(ok & ~np.isfinite(logits).all(axis=(1, 2)))
    if bad.size:
        raise ValueError(f"video {bad[0]} is marked ok but has non-finite logits")
    return logits, labels.astype(np.int64), ok
