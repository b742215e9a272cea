"""What a finished test run says beyond its accuracy, from its saved files alone (no video decoded).

Input: a test folder written by ``write_evaluation`` (``metrics.json`` + ``view_logits.npz``).
Output (:class:`RunAnalysis`): accuracy against the number of views, per-class accuracy, the most
confused class pairs, calibration, and the videos that failed or that every view got wrong
(:mod:`a2video.evaluation.compare` puts several runs side by side). Accuracies are percentages; failed videos count as wrong, as in
``metrics``.

All work on logits is vectorised and chunked over videos: a Kinetics-size run (20,000 videos x
30 views x 400 classes, ~1 GB of float32) is analysed in seconds (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from a2video.errors import A2VideoError, one_line
from a2video.evaluation.metrics import label_ranks, softmax
from a2video.evaluation.writers import METRICS_FILE, VIEW_LOGITS_FILE

# Written by `a2video test` into the run folder, the parent of its default test folder.
TEST_CONFIG_FILE = "test_config.yaml"
NPZ_KEYS = ("video_index", "view_index", "logits", "labels", "ok", "paths", "class_names")
CALIBRATION_BINS = 15
# Videos per chunk: bounds the float64 working copies (512 x 30 x 400 x 8 B = 49 MB each).
_CHUNK_VIDEOS = 512


class AnalysisError(A2VideoError):
    """A test folder whose files are missing, unreadable or inconsistent."""


@dataclass(frozen=True)
class TestRun:
    """The saved results of one ``a2video test``.

    Attributes:
        name: Short name for tables (distinct among the runs analysed together).
        folder: The test folder.
        paths: (N,) video paths as written in the test list.
        labels: (N,) int64 labels.
        ok: (N,) bool, False for videos that could not be decoded.
        class_names: (K,) names.
        aggregate: ``"softmax"`` or ``"logits"``, how the run combined its views.
        clips: Clips per video.
        crops: Crops per clip; view ``k * crops + j`` is clip k, crop j.
        views_known: False when clips and crops were not recorded and had to be guessed.
        logits: (N_ok, V, K) float32 logits of the videos with ``ok``, in list order.
        metrics: The content of ``metrics.json``.
        video_root: Folder the paths are relative to, when known (for thumbnails).
    """

    name: str
    folder: Path
    paths: list[str]
    labels: np.ndarray
    ok: np.ndarray
    class_names: list[str]
    aggregate: str
    clips: int
    crops: int
    views_known: bool
    logits: np.ndarray
    metrics: dict[str, Any]
    video_root: str | None = None

    @property
    def num_videos(self) -> int:
        """N, failed videos included."""
        return len(self.paths)

    @property
    def views(self) -> int:
        """V = clips x crops."""
        return self.clips * self.crops


@dataclass
class RunAnalysis:
    """Everything :func:`analyze_run` derives from one run.

    Attributes:
        run: The run analysed.
        views_curve: One dict per point: ``clips``, ``crops``, ``views``, ``clip_top1``,
            ``video_top1``, ``video_top5`` (see :func:`view_subsets` for which views).
        predictions: (N,) predicted class per video from all views; -1 for failed videos.
        probabilities: (N_ok, K) aggregated class probabilities of the videos with ``ok``.
        views_correct: (N,) fraction of a video's views whose own top-1 is right; NaN if failed.
        confusion: (K, K) counts, rows = true class, columns = predicted, failed videos left out.
        per_class: Rows sorted by accuracy (worst first), see :func:`per_class_accuracy`.
        confused_pairs: Off-diagonal cells by decreasing count, see :func:`confused_pairs`.
        calibration: ``{"video": ..., "clip": ...}``, each from :func:`calibration_summary`.
        misclassified: Scored videos whose video-level prediction is wrong, most confident first.
        all_views_wrong: Scored videos none of whose views has the label as its top-1.
        failed: Videos that could not be scored (``index``, ``path``, ``label_name``, ``error``).
    """

    run: TestRun
    views_curve: list[dict[str, Any]]
    predictions: np.ndarray
    probabilities: np.ndarray
    views_correct: np.ndarray
    confusion: np.ndarray
    per_class: list[dict[str, Any]]
    confused_pairs: list[dict[str, Any]]
    calibration: dict[str, dict[str, Any]]
    misclassified: list[dict[str, Any]]
    all_views_wrong: list[dict[str, Any]]
    failed: list[dict[str, Any]]

    def summary(self) -> dict[str, Any]:
        """JSON-ready numbers and lists (no arrays)."""
        run = self.run
        return {
            "name": run.name,
            "folder": str(run.folder),
            "num_videos": run.num_videos,
            "num_failed_videos": int((~run.ok).sum()),
            "num_classes": len(run.class_names),
            "clips": run.clips,
            "crops": run.crops,
            "views_known": run.views_known,
            "aggregate": run.aggregate,
            "metrics": {k: run.metrics.get(k) for k in
                        ("clip_top1", "clip_top5", "video_top1", "video_top5", "mean_class_accuracy")},
            "views_curve": self.views_curve,
            "calibration": self.calibration,
            "confused_pairs": self.confused_pairs,
            "num_misclassified": len(self.misclassified),
            "all_views_wrong": self.all_views_wrong,
            "failed": self.failed,
        }


def load_test_run(folder: str | os.PathLike, *, name: str | None = None,
                  video_root: str | None = None) -> TestRun:
    """Reads a test folder's ``metrics.json`` and ``view_logits.npz``.

    Clips and crops come from ``metrics.json`` (``num_clips``, ``num_crops``), else from the run's
    ``test_config.yaml`` beside the folder, else they are guessed (3 crops when the views divide
    by 3, the toolkit's default) and ``views_known`` is False.

    Args:
        folder: The test folder.
        name: Name for tables; default the folder's path.
        video_root: Folder of the videos; default ``data.video_root`` of ``test_config.yaml``.

    Returns:
        The run.

    Raises:
        AnalysisError: Naming the file, when one is missing, unreadable or inconsistent.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise AnalysisError(f"{folder}: no such test folder")
    metrics = _read_metrics(folder / METRICS_FILE)
    npz_path = folder / VIEW_LOGITS_FILE
    try:
        with np.load(npz_path, allow_pickle=False) as npz:
            missing = [k for k in NPZ_KEYS if k not in npz.files]
            if missing:
                raise AnalysisError(f"{npz_path}: missing arrays {', '.join(missing)} (not a view_logits file?)")
            arrays = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise AnalysisError(f"{npz_path}: file not found (analysis needs the per-view logits)") from None
    except (OSError, ValueError) as error:
        raise AnalysisError(f"{npz_path}: cannot read ({one_line(error)})") from None
    labels = arrays["labels"].astype(np.int64)
    ok = arrays["ok"].astype(bool)
    paths = [str(p) for p in arrays["paths"]]
    class_names = [str(c) for c in arrays["class_names"]]
    views = int(metrics.get("views_per_video", 0))
    logits = _view_tensor(arrays, ok, views, npz_path)
    if not len(labels) == len(ok) == len(paths) or labels.size == 0:
        raise AnalysisError(f"{npz_path}: labels, ok and paths differ in length or are empty")
    if logits.shape[2] != len(class_names) or ((labels < 0) | (labels >= len(class_names))).any():
        raise AnalysisError(f"{npz_path}: labels or logits do not match its {len(class_names)} class names")
    config = _read_test_config(folder.parent / TEST_CONFIG_FILE)
    clips, crops, known = _clips_and_crops(metrics, config, views)
    aggregate = str(arrays["aggregate"]) if "aggregate" in arrays else metrics.get("aggregate", "softmax")
    if video_root is None:
        video_root = (config.get("data") or {}).get("video_root")
    return TestRun(name=name or str(folder), folder=folder, paths=paths, labels=labels, ok=ok,
                   class_names=class_names, aggregate=aggregate, clips=clips, crops=crops, views_known=known,
                   logits=logits, metrics=metrics, video_root=video_root)


def view_subsets(clips: int, crops: int) -> list[tuple[int, int, np.ndarray]]:
    """The views behind each point of the views curve.

    ``k`` clips are the ``k`` of the run's clips spread most evenly over the video (clip
    ``floor((i + 0.5) * clips / k)`` for i < k; one clip = the middle one, all clips = all), each
    with the centre crop only and, with 3 crops, with all of them: 1 centre view, 1 clip x 3
    crops, 2 clips x 1, 2 x 3, ..., clips x 3.

    Args:
        clips: Clips per video in the run.
        crops: Crops per clip in the run.

    Returns:
        ``(k, crops used, view indices)`` in increasing number of views per crop setting.
    """
    subsets = []
    for k in range(1, clips + 1):
        chosen = np.floor((np.arange(k) + 0.5) * clips / k).astype(np.int64)  # (k,) distinct clips
        subsets.append((k, 1, chosen * crops + crops // 2))
        if crops > 1:
            subsets.append((k, crops, (chosen[:, None] * crops + np.arange(crops)).reshape(-1)))
    return subsets


def analyze_run(run: TestRun, *, bins: int = CALIBRATION_BINS) -> RunAnalysis:
    """All the numbers of one run (one chunked pass over the logits).

    Args:
        run: From :func:`load_test_run`.
        bins: Equal-width confidence bins for calibration.

    Returns:
        The analysis; its full-view point equals the run's own ``metrics.json``.
    """
    n, k = run.num_videos, len(run.class_names)
    top_k = min(5, k)
    subsets = view_subsets(run.clips, run.crops)
    scored = np.flatnonzero(run.ok)
    y = run.labels[scored]
    hits = np.zeros((len(subsets), 2), dtype=np.int64)  # video top-1, top-k per subset
    view_right = np.zeros(run.logits.shape[:2], dtype=bool)  # (N_ok, V)
    probabilities = np.empty((scored.size, k))
    ranking_top = np.empty(scored.size, dtype=np.int64)
    clip_conf = np.empty(run.logits.shape[:2])  # (N_ok, V) own max probability per view
    for start in range(0, scored.size, _CHUNK_VIDEOS):
        stop = min(start + _CHUNK_VIDEOS, scored.size)
        chunk = run.logits[start:stop].astype(np.float64)  # (c, V, K)
        yc = y[start:stop]
        view_rank = label_ranks(chunk, yc[:, None])  # (c, V)
        view_right[start:stop] = view_rank == 0
        view_probs = softmax(chunk)  # (c, V, K)
        clip_conf[start:stop] = view_probs.max(axis=2)
        # Softmax per view does not depend on the other views, so a subset's sum of view_probs
        # ranks the classes as aggregate_views would for that subset alone (a sum is a mean up to
        # a positive factor). Sums per clip first: each subset then adds k slices, not k x crops.
        source = view_probs if run.aggregate == "softmax" else chunk
        by_clip = source.reshape(len(chunk), run.clips, run.crops, -1)  # (c, clips, crops, K)
        per_clip = {1: by_clip[:, :, run.crops // 2], run.crops: by_clip.sum(axis=2)}  # (c, clips, K)
        ranking = source.mean(axis=1)  # (c, K), the all-views aggregate exactly as metrics computes it
        for i, (_, used, views) in enumerate(subsets):
            scores = ranking if views.size == run.views else per_clip[used][:, views[::used] // run.crops].sum(axis=1)
            rank = label_ranks(scores, yc)  # (c,)
            hits[i] += ((rank < 1).sum(), (rank < top_k).sum())
        probabilities[start:stop] = ranking if run.aggregate == "softmax" else softmax(ranking)
        ranking_top[start:stop] = ranking.argmax(axis=1)  # first maximum: ties to the lower class

    views_curve = [
        {"clips": kk, "crops": c, "views": int(views.size),
         "clip_top1": 100.0 * float(view_right[:, views].sum()) / (n * views.size),
         "video_top1": 100.0 * float(hits[i, 0]) / n, "video_top5": 100.0 * float(hits[i, 1]) / n}
        for i, (kk, c, views) in enumerate(subsets)
    ]
    predictions = np.full(n, -1, dtype=np.int64)
    predictions[scored] = ranking_top
    views_correct = np.full(n, np.nan)
    views_correct[scored] = view_right.mean(axis=1)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y, ranking_top), 1)
    confidence = probabilities.max(axis=1)
    return RunAnalysis(
        run=run,
        views_curve=views_curve,
        predictions=predictions,
        probabilities=probabilities,
        views_correct=views_correct,
        confusion=confusion,
        per_class=per_class_accuracy(run.labels, predictions, run.class_names, confusion),
        confused_pairs=confused_pairs(confusion, run.class_names),
        calibration={
            "video": calibration_summary(confidence, ranking_top == y, bins=bins),
            "clip": calibration_summary(clip_conf.reshape(-1), view_right.reshape(-1), bins=bins),
        },
        misclassified=_misclassified(run, scored, probabilities, ranking_top, view_right),
        all_views_wrong=[_video_row(run, int(i), int(p)) for i, p in
                         zip(scored[~view_right.any(axis=1)], ranking_top[~view_right.any(axis=1)])],
        failed=_failed(run),
    )


def per_class_accuracy(labels: np.ndarray, predictions: np.ndarray, class_names: list[str],
                       confusion: np.ndarray) -> list[dict[str, Any]]:
    """Video top-1 accuracy of each class present in ``labels``, worst first.

    Args:
        labels: (N,) labels, failed videos included.
        predictions: (N,) predicted classes, -1 for failed videos (counted wrong).
        class_names: (K,) names.
        confusion: (K, K) counts of the scored videos.

    Returns:
        Rows ``class``, ``name``, ``videos``, ``correct``, ``failed``, ``accuracy`` (percent),
        ``confused_with`` (the most frequent wrong prediction, "" if none) and ``confused_count``,
        sorted by accuracy then class index. The mean of ``accuracy`` is the mean class accuracy.
    """
    k = len(class_names)
    videos = np.bincount(labels, minlength=k)
    correct = np.bincount(labels, weights=(predictions == labels), minlength=k).astype(np.int64)
    failed = np.bincount(labels, weights=(predictions < 0), minlength=k).astype(np.int64)
    off = confusion - np.diag(np.diag(confusion))
    rows = []
    for c in np.flatnonzero(videos):
        worst = int(off[c].argmax())
        rows.append({
            "class": int(c), "name": class_names[c], "videos": int(videos[c]), "correct": int(correct[c]),
            "failed": int(failed[c]), "accuracy": 100.0 * correct[c] / videos[c],
            "confused_with": class_names[worst] if off[c, worst] else "", "confused_count": int(off[c, worst]),
        })
    rows.sort(key=lambda r: (r["accuracy"], r["class"]))
    return rows


def confused_pairs(confusion: np.ndarray, class_names: list[str], limit: int | None = None) -> list[dict[str, Any]]:
    """Off-diagonal cells of a confusion matrix, most frequent first.

    Args:
        confusion: (K, K) counts, rows = true class.
        class_names: (K,) names.
        limit: Keep at most this many pairs (None: all non-zero ones).

    Returns:
        Rows ``true``, ``predicted`` (indices), ``true_name``, ``predicted_name``, ``count`` and
        ``fraction`` (percent of the true class's scored videos), ties by (true, predicted).
    """
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    true, pred = np.nonzero(off)  # row-major order: ties stay sorted by (true, predicted)
    order = np.argsort(-off[true, pred], kind="stable")[:limit]
    totals = confusion.sum(axis=1)
    return [{"true": int(t), "predicted": int(p), "true_name": class_names[t], "predicted_name": class_names[p],
             "count": int(off[t, p]), "fraction": 100.0 * off[t, p] / totals[t]}
            for t, p in zip(true[order], pred[order])]


def calibration_summary(confidence: np.ndarray, correct: np.ndarray, *, bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """Expected calibration error and the reliability diagram's bins.

    Args:
        confidence: (M,) probability of the predicted class, in [0, 1].
        correct: (M,) whether the prediction was right.
        bins: Equal-width bins over [0, 1]; a confidence of exactly 1 goes in the last.

    Returns:
        ``ece`` (percent: sum over bins of count / M x |accuracy - mean confidence|), ``count``
        (M), and ``bins``: ``low``, ``high``, ``count``, ``accuracy``, ``confidence`` (percent,
        None for empty bins).
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    index = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    count = np.bincount(index, minlength=bins)
    hit = np.bincount(index, weights=correct, minlength=bins)
    conf = np.bincount(index, weights=confidence, minlength=bins)
    filled = count > 0
    gap = np.abs(hit[filled] - conf[filled]).sum()  # sum over bins of count x |acc - conf|
    return {
        "ece": 100.0 * float(gap) / max(1, confidence.size),
        "count": int(confidence.size),
        "bins": [{"low": b / bins, "high": (b + 1) / bins, "count": int(count[b]),
                  "accuracy": 100.0 * hit[b] / count[b] if count[b] else None,
                  "confidence": 100.0 * conf[b] / count[b] if count[b] else None} for b in range(bins)],
    }


def _read_metrics(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AnalysisError(f"{path}: file not found (is this an `a2video test` folder?)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise AnalysisError(f"{path}: cannot read ({one_line(error)})") from None
    if not isinstance(data, dict) or not isinstance(data.get("views_per_video"), int):
        raise AnalysisError(f"{path}: not a metrics file of `a2video test` (no views_per_video)")
    return data


def _read_test_config(path: Path) -> dict[str, Any]:
    # Optional: an unreadable or foreign config only means less is known, never an error.
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _clips_and_crops(metrics: dict[str, Any], config: dict[str, Any], views: int) -> tuple[int, int, bool]:
    data = config.get("data") or {}
    for clips, crops in ((metrics.get("num_clips"), metrics.get("num_crops")),
                         (data.get("test_clips"), data.get("test_crops"))):
        if isinstance(clips, int) and isinstance(crops, int) and clips * crops == views:
            return clips, crops, True
    crops = 3 if views % 3 == 0 else 1
    return views // crops, crops, False


def _view_tensor(arrays: dict[str, np.ndarray], ok: np.ndarray, views: int, path: Path) -> np.ndarray:
    """(N_ok, V, K) logits; a view, not a copy, when the rows are in the writer's order."""
    logits, video, view = arrays["logits"], arrays["video_index"], arrays["view_index"]
    scored = np.flatnonzero(ok)
    if views < 1 or logits.ndim != 2 or logits.shape[0] != scored.size * views:
        raise AnalysisError(f"{path}: {logits.shape[0] if logits.ndim else 0} logit rows for "
                            f"{scored.size} scored videos x {views} views")
    if np.array_equal(video, np.repeat(scored, views)) and np.array_equal(view, np.tile(np.arange(views), scored.size)):
        return logits.reshape(scored.size, views, logits.shape[1])
    row = np.searchsorted(scored, video)
    if (row >= scored.size).any() or not np.array_equal(scored[np.minimum(row, scored.size - 1)], video) \
            or ((view < 0) | (view >= views)).any():
        raise AnalysisError(f"{path}: video_index / view_index do not match the ok videos")
    out = np.full((scored.size, views, logits.shape[1]), np.nan, dtype=logits.dtype)
    out[row, view] = logits
    if np.isnan(out).any():
        raise AnalysisError(f"{path}: some views of scored videos are missing")
    return out


def _video_row(run: TestRun, index: int, prediction: int) -> dict[str, Any]:
    return {"index": index, "path": run.paths[index], "label": int(run.labels[index]),
            "label_name": run.class_names[run.labels[index]], "prediction": prediction,
            "prediction_name": run.class_names[prediction]}


def _misclassified(run: TestRun, scored: np.ndarray, probabilities: np.ndarray, top: np.ndarray,
                   view_right: np.ndarray) -> list[dict[str, Any]]:
    y = run.labels[scored]
    wrong = np.flatnonzero(top != y)
    confidence = probabilities[wrong, top[wrong]]
    rows = []
    for w in wrong[np.argsort(-confidence, kind="stable")]:
        row = _video_row(run, int(scored[w]), int(top[w]))
        row.update(confidence=float(probabilities[w, top[w]]), label_probability=float(probabilities[w, y[w]]),
                   views_correct=float(view_right[w].mean()), all_views_wrong=bool(not view_right[w].any()))
        rows.append(row)
    return rows


def _failed(run: TestRun) -> list[dict[str, Any]]:
    reasons = {f.get("index"): f.get("error", "") for f in run.metrics.get("failed_videos", [])
               if isinstance(f, dict)}
    return [{"index": int(i), "path": run.paths[i], "label_name": run.class_names[run.labels[i]],
             "error": reasons.get(int(i), "could not be decoded")} for i in np.flatnonzero(~run.ok)]
