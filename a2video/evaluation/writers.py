"""Result files of a multi-view evaluation and the end-of-run summary.

``write_evaluation`` writes four files into its output folder, each atomically (a temporary file in
the same folder, then ``os.replace``), so an interrupted run never leaves a half-written file;
``metrics.json`` is written last, so its presence means the other three are complete:

``metrics.json``
    The keys of ``EvaluationResult.summary()`` (``clip_top1``, ``clip_top5``, ``video_top1``,
    ``video_top5``, ``mean_class_accuracy`` in percent; ``num_videos``, ``num_failed_videos``,
    ``views_per_video``, ``num_classes``, ``top_k``, ``aggregate``, ``accuracy_unit``) plus
    ``failed_videos``: a list of ``{"index", "path", "label", "error"}``; ``num_clips`` and
    ``num_crops`` when the caller gave them (view ``k * num_crops + j`` is clip k, crop j).
``predictions.csv``
    Header row, then one row per video in input order, columns ``PREDICTIONS_COLUMNS``:
    ``path``; ``label`` and ``prediction`` (class indices); ``status`` (``ok`` or
    ``failed: <reason>``); ``label_name`` and ``prediction_name``; ``top1_class`` ..
    ``top5_class`` (class names) and ``top1_score`` .. ``top5_score`` (aggregated probabilities,
    6 decimals). Failed videos keep ``path``, ``label``, ``label_name`` and ``status``, every other
    column is empty; so are the ``topN`` columns beyond the number of classes.
``view_logits.npz``
    ``video_index`` (M,) int64, ``view_index`` (M,) int64 and ``logits`` (M, K) for every view of
    every video that did not fail (M = views_per_video x videos scored); ``labels`` (N,) int64,
    ``ok`` (N,) bool, ``paths`` (N,) str, ``class_names`` (K,) str, ``aggregate`` () str.
    Readable with ``np.load(path)`` (no pickle).
``confusion.png``
    Row-normalised confusion matrix of the videos that did not fail.
"""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from a2video.evaluation.metrics import EvaluationResult, compute_metrics, to_numpy
from a2video.files import atomic_write, atomic_write_text

METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.csv"
VIEW_LOGITS_FILE = "view_logits.npz"
CONFUSION_FILE = "confusion.png"
PREDICTIONS_COLUMNS = (
    ("path", "label", "prediction", "status", "label_name", "prediction_name")
    + tuple(f"top{i}_class" for i in range(1, 6))
    + tuple(f"top{i}_score" for i in range(1, 6))
)
NON_FINITE_REASON = "non-finite logits"
# Above this many classes tick labels would overlap whatever the font size, so they are omitted.
MAX_LABELLED_CLASSES = 100


def write_evaluation(
    out_dir: str | os.PathLike,
    *,
    paths: Sequence[str],
    labels: Any,
    ok: Any,
    errors: Sequence[str],
    view_logits: Any,
    class_names: Sequence[str],
    aggregate: str = "softmax",
    clips: int | None = None,
    crops: int | None = None,
) -> dict[str, Any]:
    """Scores an evaluation and writes its result files (see the module docstring).

    A video marked ok whose logits are not all finite (a diverged model) is reported as failed
    with reason ``"non-finite logits"`` rather than aborting a finished run.

    Args:
        out_dir: Output folder, created if missing.
        paths: (N,) video paths, in list-file order.
        labels: (N,) integer labels.
        ok: (N,) booleans, False for videos that could not be decoded.
        errors: (N,) failure reasons ("" where ok).
        view_logits: (N, V, K) logits; failed videos' rows are ignored.
        class_names: (K,) class names.
        aggregate: ``"softmax"`` or ``"logits"``, how the views of a video are combined.
        clips: Clips per video, recorded in ``metrics.json`` so that analysis knows which view is
            which (optional; give it with ``crops``).
        crops: Crops per clip; ``clips * crops`` must be the number of views.

    Returns:
        The content of ``metrics.json``.
    """
    logits = to_numpy(view_logits)
    labels = to_numpy(labels)
    ok = to_numpy(ok).astype(bool, copy=True)
    errors = [str(e) for e in errors]
    paths = [str(p) for p in paths]
    class_names = [str(c) for c in class_names]
    if not (len(paths) == len(errors) == len(labels) == len(ok)):
        raise ValueError(
            f"paths ({len(paths)}), errors ({len(errors)}), labels ({len(labels)}) and ok ({len(ok)}) "
            "must have one entry per video"
        )
    if logits.ndim != 3 or len(class_names) != logits.shape[-1]:
        raise ValueError(f"{len(class_names)} class names for view_logits of shape {logits.shape}")
    if (clips is None) != (crops is None) or (clips is not None and clips * crops != logits.shape[1]):
        raise ValueError(f"clips ({clips}) x crops ({crops}) must both be given and equal the "
                         f"{logits.shape[1]} views per video")
    if ok.shape == logits.shape[:1]:  # otherwise compute_metrics reports the mismatch
        bad = ok & ~np.isfinite(logits).all(axis=(1, 2))
        for i in np.flatnonzero(bad):
            errors[i] = NON_FINITE_REASON
        ok &= ~bad
    result = compute_metrics(logits, labels, ok, aggregate)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics = result.summary()
    metrics["failed_videos"] = [
        {"index": int(i), "path": paths[i], "label": int(labels[i]), "error": _reason(errors[i])}
        for i in np.flatnonzero(~ok)
    ]
    if clips is not None:
        metrics["num_clips"], metrics["num_crops"] = int(clips), int(crops)
    csv_bytes = _predictions_csv(result, paths, labels, errors, class_names)
    atomic_write(out / PREDICTIONS_FILE, lambda f: f.write(csv_bytes))
    arrays = _view_logits_arrays(logits, labels, ok, paths, class_names, aggregate)
    atomic_write(out / VIEW_LOGITS_FILE, lambda f: _savez(f, arrays))
    figure = _confusion_figure(result, class_names)
    atomic_write(out / CONFUSION_FILE, lambda f: figure.savefig(f, format="png"))
    # metrics.json last: when it exists, the other files of this run are complete.
    atomic_write_text(out / METRICS_FILE, json.dumps(metrics, indent=2, allow_nan=False) + "\n")
    return metrics


def format_summary(metrics: dict[str, Any], out_dir: str | os.PathLike | None = None) -> str:
    """Formats a metrics dict as a short accuracy table for the end of a run.

    Args:
        metrics: The dict returned by ``write_evaluation`` (or read from ``metrics.json``).
        out_dir: If given, the folder of the result files, listed under the table.

    Returns:
        A few lines of text, without a trailing newline.
    """
    k = metrics.get("top_k", 5)
    lines = [
        f"{metrics['num_videos']} videos x {metrics['views_per_video']} views, "
        f"{metrics['num_failed_videos']} failed (counted wrong), aggregate: {metrics.get('aggregate', '?')}",
        f"{'accuracy (%)':<20}{'top-1':>8}{f'top-{k}':>8}",
        f"{'clip':<20}{metrics['clip_top1']:>8.2f}{metrics['clip_top5']:>8.2f}",
        f"{'video':<20}{metrics['video_top1']:>8.2f}{metrics['video_top5']:>8.2f}",
        f"{'mean class':<20}{metrics['mean_class_accuracy']:>8.2f}",
    ]
    for failed in metrics.get("failed_videos", [])[:5]:
        lines.append(f"  failed: {failed['path']}: {failed['error']}")
    if len(metrics.get("failed_videos", [])) > 5:
        lines.append(f"  ... {len(metrics['failed_videos']) - 5} more in {METRICS_FILE}")
    if out_dir is not None:
        names = ", ".join((METRICS_FILE, PREDICTIONS_FILE, VIEW_LOGITS_FILE, CONFUSION_FILE))
        lines.append(f"results in {out_dir}: {names}")
    return "\n".join(lines)


def _reason(error: str) -> str:
    # One line per reason keeps the CSV and the summary readable.
    return " ".join(error.split()) or "unknown error"


def _predictions_csv(
    result: EvaluationResult,
    paths: list[str],
    labels: np.ndarray,
    errors: list[str],
    class_names: list[str],
) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(PREDICTIONS_COLUMNS)
    pad = [""] * (5 - result.top_k)
    for i, path in enumerate(paths):
        label = int(labels[i])
        pred = int(result.predictions[i])
        if pred < 0:
            status = f"failed: {_reason(errors[i])}"
            writer.writerow([path, label, "", status, class_names[label]] + [""] * 11)
            continue
        top = [class_names[c] for c in result.topk_classes[i]] + pad
        scores = [f"{s:.6f}" for s in result.topk_scores[i]] + pad
        writer.writerow([path, label, pred, "ok", class_names[label], class_names[pred]] + top + scores)
    return buf.getvalue().encode()


def _view_logits_arrays(
    logits: np.ndarray,
    labels: np.ndarray,
    ok: np.ndarray,
    paths: list[str],
    class_names: list[str],
    aggregate: str,
) -> dict[str, np.ndarray]:
    _, v, k = logits.shape
    videos = np.flatnonzero(ok)
    return {
        "video_index": np.repeat(videos, v).astype(np.int64),
        "view_index": np.tile(np.arange(v, dtype=np.int64), videos.size),
        "logits": _Rows(logits, videos),  # (videos.size * V, K), written without a copy of the whole
        "labels": labels.astype(np.int64),
        "ok": ok,
        "paths": np.array(paths, dtype=str),
        "class_names": np.array(class_names, dtype=str),
        "aggregate": np.array(aggregate),
    }


class _Rows:
    """``array[rows]`` flattened to 2D, produced slice by slice: at Kinetics size the logits of the
    decoded videos are ~1 GB, which ``np.savez`` would first copy out of the (N, V, K) array."""

    def __init__(self, array: np.ndarray, rows: np.ndarray) -> None:
        self.array, self.rows = array, rows
        self.shape = (rows.size * int(np.prod(array.shape[1:-1])), array.shape[-1])

    def slices(self, rows_per_slice: int = 2048):
        for start in range(0, self.rows.size, rows_per_slice):
            yield np.ascontiguousarray(self.array[self.rows[start : start + rows_per_slice]])


def _savez(file: Any, arrays: dict[str, Any]) -> None:
    """``np.savez`` (same file format: an uncompressed zip of ``.npy``), streaming :class:`_Rows`."""
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as entry:
                if not isinstance(array, _Rows):
                    np.lib.format.write_array(entry, np.asanyarray(array), allow_pickle=False)
                    continue
                header = {"descr": np.lib.format.dtype_to_descr(array.array.dtype), "fortran_order": False,
                          "shape": array.shape}
                np.lib.format.write_array_header_1_0(entry, header)
                for part in array.slices():
                    entry.write(part.tobytes())


def _confusion_figure(result: EvaluationResult, class_names: list[str]) -> Any:
    # Figure + Agg canvas directly: no pyplot global state, no change to the process's backend.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    k = result.num_classes
    counts = result.confusion
    rows = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    labelled = k <= MAX_LABELLED_CLASSES
    font = float(np.clip(10.0 - k / 20.0, 5.0, 9.0))
    # Matrix side grows with K (about 6 px per point of font per row at 100 dpi); the class
    # names need their own margin (about 0.6 em per character) so they never squeeze the matrix.
    side = float(np.clip(2.0 + 0.16 * k, 4.5, 18.0)) if labelled else 12.0
    margin = 0.6 * font / 72.0 * max(map(len, class_names)) + 0.6 if labelled else 0.6
    fig = Figure(figsize=(side + margin + 1.5, side + margin + 0.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(normalised, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.8, label="fraction of the true class")
    if labelled:
        ax.set_xticks(range(k), class_names, rotation=90, fontsize=font)
        ax.set_yticks(range(k), class_names, fontsize=font)
    if k <= 20:  # counts readable inside the cells only for small matrices
        for (r, c), n in np.ndenumerate(counts):
            if n:
                ax.text(c, r, str(n), ha="center", va="center", fontsize=8,
                        color="white" if normalised[r, c] > 0.5 else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    scored = result.num_videos - result.num_failed_videos
    # suptitle, not an axes title: constrained layout keeps it inside the figure.
    fig.suptitle(
        f"Video top-1 {result.video_top1:.2f}% ({result.aggregate} of {result.views_per_video} views)\n"
        f"{scored} videos shown; {result.num_failed_videos} failed videos not shown\n"
        "(failed videos are counted wrong in the accuracies)",
        fontsize=10,
    )
    return fig
