"""The analysis files and the self-contained ``report.html`` of one or several test runs.

``write_report(test_dir)`` is what ``a2video test`` calls at the end; ``write_analysis`` is the
general form behind ``a2video analyze`` (``configure_analyze`` / ``run_analyze``). Written into the output folder, each atomically:

``report.html``          the page: plots inline (base64 PNG), tables, thumbnails; no network
``analysis.json``        every number of the page (``runs``: one summary per run; ``comparison``)
``per_class.csv``        per-class video top-1, worst first
``confused_pairs.csv``   (true, predicted) class pairs by decreasing count
``misclassified.csv``    wrongly classified videos, most confident first
``confusion_full.png``   the whole confusion matrix with every class named (linked from the page)

With several runs the per-run CSV and PNG files go into one sub-folder per run.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from a2video.evaluation import plots
from a2video.evaluation.analysis import RunAnalysis, analyze_run, load_test_run
from a2video.evaluation.compare import compare_runs
from a2video.files import atomic_write

REPORT_FILE = "report.html"
ANALYSIS_FILE = "analysis.json"
PER_CLASS_FILE = "per_class.csv"
PAIRS_FILE = "confused_pairs.csv"
MISCLASSIFIED_FILE = "misclassified.csv"
CONFUSION_FULL_FILE = "confusion_full.png"
WORST_VIDEOS = 8
PAIRS_SHOWN = 20
ROWS_SHOWN = 50  # longer lists are cut on the page; the CSV and JSON files hold them all
THUMB_FRAMES, THUMB_HEIGHT = 4, 72


@dataclass(frozen=True)
class AnalysisOutput:
    """What :func:`write_analysis` produced.

    Attributes:
        report: Path of ``report.html``.
        analyses: One per run, in the order given.
        comparison: ``compare_runs``' result, None for a single run.
    """

    report: Path
    analyses: list[RunAnalysis]
    comparison: dict[str, Any] | None


def write_report(test_dir: str | os.PathLike, *, video_root: str | None = None) -> Path:
    """Analyses one test folder and writes the report and analysis files into it.

    Args:
        test_dir: Folder written by ``a2video test`` (``metrics.json``, ``view_logits.npz``...).
        video_root: Folder of the videos for the thumbnails; default the run's
            ``test_config.yaml`` ``data.video_root`` (no thumbnails when neither is found).

    Returns:
        The path of ``report.html``.

    Raises:
        AnalysisError: If the folder's files are missing or inconsistent.
    """
    return write_analysis([test_dir], out_dir=test_dir, video_root=video_root).report


def write_analysis(folders: list[str | os.PathLike], *, out_dir: str | os.PathLike | None = None,
                   names: list[str] | None = None, video_root: str | None = None,
                   worst: int = WORST_VIDEOS) -> AnalysisOutput:
    """Analyses test folders and writes the files listed in the module docstring.

    Args:
        folders: Test folders (one or more).
        out_dir: Output folder; default the test folder for one run, ``<common parent>/analysis``
            for several.
        names: Names of the runs in tables; default the parts of their paths that differ.
        video_root: Folder of the videos for the thumbnails (default: from each run's config).
        worst: Misclassified videos shown as thumbnails, per run.

    Returns:
        The report's path, the analyses and the comparison.

    Raises:
        AnalysisError: If a folder's files are missing or inconsistent.
        ValueError: If ``names`` has the wrong length.
    """
    folders = [Path(f) for f in folders]
    if names is not None and len(names) != len(folders):
        raise ValueError(f"{len(names)} names for {len(folders)} runs")
    names = names or run_names(folders)
    analyses = [analyze_run(load_test_run(f, name=n, video_root=video_root)) for f, n in zip(folders, names)]
    comparison = compare_runs(analyses) if len(analyses) > 1 else None
    out = Path(out_dir) if out_dir is not None else _default_out(folders)
    sections = []
    for analysis in analyses:
        sub = "" if len(analyses) == 1 else _safe_name(analysis.run.name) + "/"
        confusion_png = _write_run_files(analysis, out / sub)
        sections.append(_run_section(analysis, confusion_href=sub + CONFUSION_FULL_FILE,
                                     confusion_png=confusion_png, worst=worst, titled=len(analyses) > 1))
    content = {"runs": [a.summary() for a in analyses], "comparison": comparison}
    _write_text(out / ANALYSIS_FILE, json.dumps(content, indent=1, allow_nan=False) + "\n")
    page = _page(analyses, comparison, sections)
    _write_text(out / REPORT_FILE, page)
    return AnalysisOutput(report=out / REPORT_FILE, analyses=analyses, comparison=comparison)


def run_names(folders: list[Path]) -> list[str]:
    """Short distinct names: the path components that differ between the folders.

    ``runs/split1/test`` and ``runs/split2/test`` give ``split1`` and ``split2``; one folder keeps
    its path as given.
    """
    if len(folders) < 2:
        return [str(f) for f in folders]
    parts = [Path(os.path.abspath(f)).parts for f in folders]
    start = 0
    while all(len(p) > start + 1 for p in parts) and len({p[start] for p in parts}) == 1:
        start += 1
    end = 0
    while all(len(p) - end - 1 > start for p in parts) and len({p[-end - 1] for p in parts}) == 1:
        end += 1
    names = ["/".join(p[start:len(p) - end]) for p in parts]
    return names if len(set(names)) == len(names) else [str(f) for f in folders]


def format_analysis(analyses: list[RunAnalysis], comparison: dict[str, Any] | None) -> str:
    """A few lines per run: accuracy with one view and with all, calibration, failures."""
    width = min(40, max(len(a.run.name) for a in analyses))

    def short(name: str) -> str:
        return name if len(name) <= width else "..." + name[-(width - 3):]

    lines = [f"{'run':<{width}}{'videos':>7}{'1 view':>8}{'all views':>10}{'mean class':>11}{'ECE':>7}"]
    for analysis in analyses:
        run, curve = analysis.run, analysis.views_curve
        lines.append(f"{short(run.name):<{width}}{run.num_videos:>7}{curve[0]['video_top1']:>8.2f}"
                     f"{curve[-1]['video_top1']:>10.2f}{run.metrics['mean_class_accuracy']:>11.2f}"
                     f"{analysis.calibration['video']['ece']:>7.2f}")
    lines.append("video top-1 (%) with the centre view and with all views; ECE in % per video")
    if comparison is not None:
        if comparison["kind"] == "ensemble":
            e = comparison["ensemble"]
            lines.append(f"ensemble (mean of softmax): video top-1 {e['video_top1']:.2f}, top-5 {e['video_top5']:.2f}")
        elif comparison["kind"] == "splits":
            m = comparison["splits"]["mean"]
            lines.append(f"mean of {comparison['splits']['num_splits']} splits: video top-1 {m['video_top1']:.2f}, "
                         f"clip top-1 {m['clip_top1']:.2f}")
        else:
            lines.append(f"no ensemble: {comparison['reason']}")
    for analysis in analyses:
        worst = analysis.confused_pairs[:3]
        if worst:
            lines.append(f"{short(analysis.run.name)}: most confused: " + "; ".join(
                f"{p['true_name']} -> {p['predicted_name']} ({p['count']})" for p in worst))
    return "\n".join(lines)


def _default_out(folders: list[Path]) -> Path:
    if len(folders) == 1:
        return folders[0]
    return Path(os.path.commonpath([os.path.abspath(f) for f in folders])) / "analysis"


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "run"


def _write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode()))


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    _write_text(path, buf.getvalue())


def _write_run_files(analysis: RunAnalysis, folder: Path) -> bytes:
    """per_class.csv, confused_pairs.csv, misclassified.csv and confusion_full.png; returns the PNG."""
    columns = ["class", "name", "videos", "correct", "failed", "accuracy", "confused_with", "confused_count"]
    _write_csv(folder / PER_CLASS_FILE, columns,
               [[r[c] if c != "accuracy" else f"{r[c]:.2f}" for c in columns] for r in analysis.per_class])
    columns = ["true", "predicted", "true_name", "predicted_name", "count", "fraction"]
    _write_csv(folder / PAIRS_FILE, columns,
               [[r[c] if c != "fraction" else f"{r[c]:.2f}" for c in columns] for r in analysis.confused_pairs])
    columns = ["path", "label", "label_name", "prediction", "prediction_name", "confidence",
               "label_probability", "views_correct", "all_views_wrong"]
    _write_csv(folder / MISCLASSIFIED_FILE, columns,
               [[f"{r[c]:.6f}" if isinstance(r[c], float) else r[c] for c in columns] for r in analysis.misclassified])
    run = analysis.run
    title = f"{run.name}: confusion of {int(run.ok.sum())} scored videos"
    if len(run.class_names) <= plots.NAMED_BARS:
        png = plots.figure_png(plots.confusion_figure(analysis.confusion, run.class_names, title=title))
    else:
        png = plots.large_confusion_png(analysis.confusion, run.class_names, title)
    atomic_write(folder / CONFUSION_FULL_FILE, lambda f: f.write(png))
    return png


# ------------------------------------------------------------------------------------------ HTML
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}h3{margin-top:1.5em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}td,th{border:1px solid #ddd;padding:.2em .5em}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
img.plot{max-width:100%;height:auto;display:block;margin:.5em 0}.note{color:#666;font-size:.9em}
.strip{display:flex;flex-wrap:wrap;gap:1em}.card{border:1px solid #ddd;padding:.4em;font-size:.8em;max-width:320px}
.card img{display:block;max-width:100%}code{font-size:.9em}
"""


def _img(png: bytes, alt: str, css: str = "plot", mime: str = "image/png") -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="{css}" alt="{html.escape(alt)}" src="data:{mime};base64,{data}">'


def _table(header: list[str], rows: list[list[Any]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td{" class=n" if i in numeric else ""}>{html.escape(_fmt(v))}</td>'
                         for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return "" if value is None else str(value)


def _cut(rows: list[Any], what: str, file: str | None = None) -> tuple[list[Any], str]:
    if len(rows) <= ROWS_SHOWN:
        return rows, ""
    where = f" (all in <code>{html.escape(file)}</code>)" if file else ""
    return rows[:ROWS_SHOWN], f'<p class="note">First {ROWS_SHOWN} of {len(rows)} {what}{where}.</p>'


def _page(analyses: list[RunAnalysis], comparison: dict[str, Any] | None, sections: list[str]) -> str:
    title = analyses[0].run.name if len(analyses) == 1 else f"{len(analyses)} test runs"
    parts = ["<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
             '<link rel="icon" href="data:,">',  # no favicon request, even on a web server
             f"<title>a2video report: {html.escape(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>a2video test report: {html.escape(title)}</h1>"]
    if comparison is not None:
        parts.append(_comparison_section(comparison))
    parts += sections
    parts.append('<p class="note">Written by a2video from metrics.json and view_logits.npz; accuracies in %, '
                 "failed videos counted wrong.</p></body></html>\n")
    return "\n".join(parts)


def _comparison_section(comparison: dict[str, Any]) -> str:
    keys = ["clip_top1", "video_top1", "video_top5", "mean_class_accuracy", "num_videos"]
    rows = [[r["name"]] + [r[k] for k in keys] for r in comparison["runs"]]
    if comparison["kind"] == "ensemble":
        e = comparison["ensemble"]
        rows.append(["ensemble (mean of softmax)", None, e["video_top1"], e["video_top5"],
                     e["mean_class_accuracy"], e["num_videos"]])
    elif comparison["kind"] == "splits":
        m = comparison["splits"]["mean"]
        rows.append([f"mean of {comparison['splits']['num_splits']} splits"] + [m[k] for k in keys[:4]]
                    + [comparison["splits"]["total"]["num_videos"]])
    table = _table(["run", "clip top-1", "video top-1", "video top-5", "mean class", "videos"], rows,
                   numeric={1, 2, 3, 4, 5})
    return f"<h2>Runs compared</h2><p>{html.escape(comparison['reason'])}.</p>{table}"


def _run_section(analysis: RunAnalysis, *, confusion_href: str, confusion_png: bytes, worst: int,
                 titled: bool) -> str:
    run = analysis.run
    m = run.metrics
    out = [f"<h2>Run {html.escape(run.name)}</h2>" if titled else ""]
    views = f"{run.clips} clips x {run.crops} crops"
    if not run.views_known:
        views += " (not recorded: guessed from the number of views)"
    out.append(_table(["", "top-1", "top-5"], [["clip", m["clip_top1"], m["clip_top5"]],
                                               ["video", m["video_top1"], m["video_top5"]],
                                               ["mean class", m["mean_class_accuracy"], None]], numeric={1, 2}))
    out.append(f"<p>{run.num_videos} videos, {int((~run.ok).sum())} failed (counted wrong), "
               f"{len(run.class_names)} classes, {views}, views combined by {html.escape(run.aggregate)}. "
               f"Folder: <code>{html.escape(str(run.folder))}</code></p>")

    out.append("<h3>Accuracy against the number of views</h3>")
    out.append(_img(plots.figure_png(plots.views_curve_figure(analysis.views_curve, crops=run.crops,
                                                              aggregate=run.aggregate)), "views curve"))
    out.append(_table(["clips", "crops", "views", "clip top-1", "video top-1", "video top-5"],
                      [[p["clips"], p["crops"], p["views"], p["clip_top1"], p["video_top1"], p["video_top5"]]
                       for p in analysis.views_curve], numeric={0, 1, 2, 3, 4, 5}))
    out.append('<p class="note">k clips = the k most evenly spread of the run\'s clips; centre crop = the '
               "middle one of the crops.</p>")

    out.append("<h3>Per-class accuracy</h3>")
    out.append(_img(plots.figure_png(plots.per_class_figure(analysis.per_class)), "per-class accuracy"))
    rows = [[r["name"], r["videos"], r["correct"], r["failed"], r["accuracy"], r["confused_with"],
             r["confused_count"] or None] for r in analysis.per_class]
    out.append(f"<details><summary>All {len(rows)} classes, worst first</summary>"
               + _table(["class", "videos", "correct", "failed", "top-1", "most often predicted instead", "times"],
                        rows, numeric={1, 2, 3, 4, 6}) + "</details>")

    out.append("<h3>Confusions</h3>")
    block = plots.confused_block(analysis.confusion)
    if len(block) == len(run.class_names):
        out.append(_img(confusion_png, "confusion matrix"))
    else:
        out.append(_img(plots.figure_png(plots.confusion_figure(
            analysis.confusion, run.class_names, block,
            title=f"The {len(block)} most confused of {len(run.class_names)} classes")), "most confused classes"))
        out.append(f'<p><a href="{html.escape(confusion_href)}">Full confusion matrix</a> '
                   f"({len(run.class_names)} classes, large image).</p>")
    pairs = analysis.confused_pairs[:PAIRS_SHOWN]
    out.append(_table(["true class", "predicted as", "videos", "% of the true class"],
                      [[p["true_name"], p["predicted_name"], p["count"], p["fraction"]] for p in pairs],
                      numeric={2, 3}) if pairs else "<p>No confusions.</p>")

    video, clip = analysis.calibration["video"], analysis.calibration["clip"]
    out.append("<h3>Calibration</h3>")
    out.append(f"<p>Expected calibration error: <b>{video['ece']:.2f} %</b> per video, {clip['ece']:.2f} % per "
               f"clip ({len(video['bins'])} equal-width bins; failed videos left out).</p>")
    out.append(_img(plots.figure_png(plots.reliability_figure(analysis.calibration)), "reliability diagram"))

    out.append(_worst_section(analysis, worst))
    out.append(_video_lists(analysis))
    return "\n".join(out)


def _worst_section(analysis: RunAnalysis, worst: int) -> str:
    run = analysis.run
    chosen = analysis.misclassified[:worst]
    out = [f"<h3>The {len(chosen)} most confidently wrong videos</h3>"]
    if not chosen:
        return out[0] + "<p>No misclassified video.</p>"
    cards, missing = [], 0
    for r in chosen:
        strip = thumbnail_strip(_video_file(run.video_root, r["path"]))
        missing += strip is None
        picture = _img(strip, f"frames of {r['path']}", css="thumb", mime="image/jpeg") if strip else ""
        cards.append(f'<div class="card">{picture}<b>{html.escape(r["label_name"])}</b> predicted as '
                     f'<b>{html.escape(r["prediction_name"])}</b> ({100 * r["confidence"]:.1f} %; label '
                     f'{100 * r["label_probability"]:.1f} %)<br><code>{html.escape(r["path"])}</code></div>')
    out.append(f'<div class="strip">{"".join(cards)}</div>')
    if missing:
        where = f"under <code>{html.escape(run.video_root)}</code>" if run.video_root else "(video root unknown)"
        out.append(f'<p class="note">{missing} video file(s) not found {where}: no thumbnail '
                   "(<code>a2video analyze --video-root DIR</code>).</p>")
    return "\n".join(out)


def _video_lists(analysis: RunAnalysis) -> str:
    out = [f"<h3>Failed videos ({len(analysis.failed)})</h3>"]
    if analysis.failed:
        rows, note = _cut(analysis.failed, "failed videos", "metrics.json")
        out.append(_table(["path", "class", "error"], [[r["path"], r["label_name"], r["error"]] for r in rows]) + note)
    else:
        out.append("<p>Every video was decoded.</p>")
    wrong = analysis.all_views_wrong
    out.append(f"<h3>Videos that every view got wrong ({len(wrong)})</h3>")
    if wrong:
        rows, note = _cut(wrong, "videos", ANALYSIS_FILE)
        out.append(_table(["path", "class", "video prediction"],
                          [[r["path"], r["label_name"], r["prediction_name"]] for r in rows]) + note)
    out.append(f"<p>{len(analysis.misclassified)} videos misclassified in all: "
               f"<code>{MISCLASSIFIED_FILE}</code>.</p>")
    return "\n".join(out)


# ------------------------------------------------------------------------------------ thumbnails
def _video_file(video_root: str | None, path: str) -> str:
    return path if video_root is None or os.path.isabs(path) else os.path.join(video_root, path)


def thumbnail_strip(path: str, *, frames: int = THUMB_FRAMES, height: int = THUMB_HEIGHT) -> bytes | None:
    """``frames`` frames spread over a video, side by side, as JPEG bytes; None if unreadable.

    Args:
        path: Video file.
        frames: Frames in the strip.
        height: Height of the strip in pixels.
    """
    if not os.path.isfile(path):
        return None
    from PIL import Image  # Pillow comes with matplotlib

    from a2video.data.decoding import (  # imports torch: only when needed
        probe_video,
        read_frames,
    )
    try:
        info = probe_video(path)
        indices = np.linspace(0, info.num_frames - 1, frames + 2)[1:-1].round().astype(np.int64)
        size = (height, max(2, int(round(info.width * height / info.height))))
        pictures = read_frames(path, indices, size)  # (frames, H, W, 3)
    except Exception:  # a thumbnail is decoration: an unreadable video only loses its picture
        return None
    buf = io.BytesIO()
    Image.fromarray(np.concatenate(list(pictures), axis=1)).save(buf, format="JPEG", quality=85)
    return buf.getvalue()
