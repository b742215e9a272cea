"""The report's figures, drawn with matplotlib's Agg canvas (no pyplot state, no display needed).

Each ``*_figure`` function takes numbers from :mod:`a2video.evaluation.analysis` and returns a
``matplotlib.figure.Figure``; :func:`figure_png` turns one into PNG bytes.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# Up to this many classes a confusion matrix is drawn whole with its counts; above, the report
# shows the most confused sub-block of this size and links the full matrix.
BLOCK_CLASSES = 24
# Up to this many classes the per-class chart has one named bar per class.
NAMED_BARS = 30


def new_figure(width: float, height: float) -> Figure:
    """A figure with its own Agg canvas and constrained layout."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def views_curve_figure(points: list[dict[str, Any]], *, crops: int, aggregate: str) -> Figure:
    """Video and clip top-1 against the number of views, one line per crop setting.

    Args:
        points: ``RunAnalysis.views_curve``.
        crops: Crops per clip in the run (1 or 3).
        aggregate: How views were combined, for the title.
    """
    fig = new_figure(7.0, 4.2)
    ax = fig.add_subplot()
    for used, style in ((1, "o"), (crops, "s")) if crops > 1 else ((1, "o"),):
        line = [p for p in points if p["crops"] == used]
        views = [p["views"] for p in line]
        label = "centre crop" if used == 1 else f"{used} crops"
        ax.plot(views, [p["video_top1"] for p in line], f"-{style}", label=f"video top-1, {label}")
        ax.plot(views, [p["clip_top1"] for p in line], f":{style}", alpha=0.7, label=f"clip top-1, {label}")
    values = [p[key] for p in points for key in ("video_top1", "clip_top1")]
    low, high = min(values), max(values)
    pad = max(0.0, 10.0 - (high - low)) / 2 + 1.0  # at least 10 points of range: no zoom on noise
    ax.set_ylim(max(0.0, low - pad), min(101.0, high + pad))
    ax.set_xticks(sorted({p["views"] for p in points}))
    ax.set_xlabel("views per video (clips x crops)")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"Accuracy against the number of views ({aggregate} of the views)", fontsize=10)
    return fig


def per_class_figure(rows: list[dict[str, Any]], *, worst: int = 25) -> Figure:
    """Per-class video top-1: one named bar per class, or for many classes all classes sorted
    (left) and the ``worst`` ones named (right).

    Args:
        rows: ``RunAnalysis.per_class`` (sorted worst first).
        worst: Named bars shown when there are more than ``NAMED_BARS`` classes.
    """
    if len(rows) <= NAMED_BARS:
        fig = new_figure(7.0, 1.2 + 0.25 * len(rows))
        _named_bars(fig.add_subplot(), rows)
        return fig
    fig = new_figure(11.0, 1.2 + 0.22 * worst)
    left, right = fig.subplots(1, 2, width_ratios=(1, 1.2))
    accuracy = [r["accuracy"] for r in rows]
    # One filled step outline instead of hundreds of bar patches: the same picture, drawn at once.
    left.stairs(accuracy, np.arange(len(rows) + 1) - 0.5, fill=True, color="tab:blue")
    left.axhline(float(np.mean(accuracy)), color="tab:red", lw=1, label=f"mean {np.mean(accuracy):.1f} %")
    left.set_xlabel(f"class rank (all {len(rows)} classes, worst first)")
    left.set_ylabel("video top-1 (%)")
    left.set_xlim(-0.5, len(rows) - 0.5)
    left.legend(fontsize=8)
    _named_bars(right, rows[:worst])
    right.set_title(f"The {worst} worst classes", fontsize=10)
    return fig


def _named_bars(ax: Any, rows: list[dict[str, Any]]) -> None:
    y = np.arange(len(rows))
    ax.barh(y, [r["accuracy"] for r in rows], color="tab:blue")
    ax.set_yticks(y, [f"{r['name']} ({r['correct']}/{r['videos']})" for r in rows], fontsize=7)
    ax.invert_yaxis()  # worst on top
    ax.set_xlim(0, 100)
    ax.set_xlabel("video top-1 (%)")
    ax.grid(axis="x", alpha=0.3)


def confused_block(confusion: np.ndarray, size: int = BLOCK_CLASSES) -> np.ndarray:
    """The classes of the most confused sub-block: all classes if there are at most ``size``,
    else the classes of the largest off-diagonal cells, in order of first appearance.

    Args:
        confusion: (K, K) counts.
        size: Most classes in the block.

    Returns:
        Class indices (at most ``size``).
    """
    k = len(confusion)
    if k <= size:
        return np.arange(k)
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    chosen: list[int] = []
    for cell in np.argsort(-off, axis=None, kind="stable"):
        if off.flat[cell] == 0 or len(chosen) >= size:
            break
        for c in divmod(int(cell), k):
            if c not in chosen and len(chosen) < size:
                chosen.append(c)
    return np.array(chosen or [0], dtype=np.int64)


def confusion_figure(confusion: np.ndarray, class_names: list[str], classes: np.ndarray | None = None,
                     *, counts: bool = True, title: str = "") -> Figure:
    """Row-normalised confusion matrix of ``classes`` (rows normalised by the full row).

    Args:
        confusion: (K, K) counts, rows = true class.
        class_names: (K,) names.
        classes: Which classes to show (rows and columns); None = all.
        counts: Write the counts in the cells.
        title: Figure title.
    """
    classes = np.arange(len(confusion)) if classes is None else np.asarray(classes)
    rows = confusion.sum(axis=1, keepdims=True)
    fraction = np.divide(confusion, rows, out=np.zeros(confusion.shape), where=rows > 0)
    block = fraction[np.ix_(classes, classes)]
    n = len(classes)
    font = 8.0 if n <= 30 else 6.0
    names = [class_names[c] for c in classes]
    margin = 0.55 * font / 72.0 * max(map(len, names)) + 0.5
    side = float(np.clip(0.3 * n, 4.0, None)) if n <= 30 else 0.12 * n
    fig = new_figure(side + margin + 1.4, side + margin + 0.6)
    ax = fig.add_subplot()
    image = ax.imshow(block, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.6, label="fraction of the true class")
    ax.set_xticks(range(n), names, rotation=90, fontsize=font)
    ax.set_yticks(range(n), names, fontsize=font)
    if counts:
        for (r, c), value in np.ndenumerate(confusion[np.ix_(classes, classes)]):
            if value:
                ax.text(c, r, str(value), ha="center", va="center", fontsize=7,
                        color="white" if block[r, c] > 0.5 else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def reliability_figure(calibration: dict[str, dict[str, Any]]) -> Figure:
    """Reliability diagrams (accuracy against confidence per bin) for videos and for clips.

    Args:
        calibration: ``RunAnalysis.calibration``.
    """
    fig = new_figure(9.0, 4.0)
    for ax, (level, summary) in zip(fig.subplots(1, 2), (("video", calibration["video"]),
                                                          ("clip", calibration["clip"]))):
        bins = summary["bins"]
        width = bins[0]["high"] - bins[0]["low"]
        centre = np.array([(b["low"] + b["high"]) / 2 for b in bins])
        accuracy = np.array([b["accuracy"] if b["count"] else 0.0 for b in bins]) / 100.0
        ax.bar(centre, accuracy, width=width, edgecolor="black", lw=0.5, color="tab:blue", label="accuracy")
        filled = [b for b in bins if b["count"]]
        # ECE compares each bin's accuracy with its mean confidence, not with the bin centre.
        ax.plot([(b["low"] + b["high"]) / 2 for b in filled], [b["confidence"] / 100.0 for b in filled], "rx",
                label="mean confidence")
        ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence (probability of the predicted class)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{level}: ECE {summary['ece']:.2f} % over {summary['count']} {level}s", fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
    return fig


def large_confusion_png(confusion: np.ndarray, class_names: list[str], title: str) -> bytes:
    """The whole row-normalised confusion matrix with every class named, drawn directly in
    pixels (Pillow), for hundreds of classes: matplotlib needs about a minute for 800 tick
    labels on a 5000-pixel canvas, this takes about a second.

    Args:
        confusion: (K, K) counts, rows = true class.
        class_names: (K,) names.
        title: First line of the picture.

    Returns:
        PNG bytes; each class gets a square cell of ``max(8, min(16, 2400 // K))`` pixels.
    """
    from matplotlib import colormaps
    from matplotlib.font_manager import findfont
    from PIL import Image, ImageDraw, ImageFont

    k = len(confusion)
    cell = max(8, min(16, 2400 // k))
    font = ImageFont.truetype(findfont("DejaVu Sans"), size=cell - 1)
    label = int(max(font.getlength(name) for name in class_names)) + 6
    rows = confusion.sum(axis=1, keepdims=True)
    fraction = np.divide(confusion, rows, out=np.zeros(confusion.shape), where=rows > 0)
    cells = (255 * colormaps["Blues"](fraction)[..., :3]).astype(np.uint8)  # (K, K, 3)
    matrix = cells.repeat(cell, axis=0).repeat(cell, axis=1)  # (K*cell, K*cell, 3)
    matrix[::cell * 10, :] = matrix[:, ::cell * 10] = 170  # a grey line every 10 classes
    heading = ImageFont.truetype(findfont("DejaVu Sans"), size=14)
    top, side = 30, k * cell
    canvas = Image.new("RGB", (label + side + 10, top + side + label), "white")
    canvas.paste(Image.fromarray(matrix), (label, top))
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 4), f"{title}  (rows: true class, columns: predicted class, colour: fraction of the row)",
              fill="black", font=heading)
    columns = Image.new("RGB", (label, side), "white")  # names drawn across, then turned to read upwards
    column_draw = ImageDraw.Draw(columns)
    for i, name in enumerate(class_names):
        width = font.getlength(name)
        draw.text((label - 4 - width, top + i * cell), name, fill="black", font=font)
        column_draw.text((label - 4 - width, i * cell), name, fill="black", font=font)
    canvas.paste(columns.rotate(90, expand=True), (label, top + side))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()
