"""``a2video predict``: top-k classes of videos with a trained model (CSV, JSON, per-window timelines)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from a2video.data.decoding import VideoDecodeError, probe_video, video_notes
from a2video.errors import ConfigError
from a2video.evaluation.metrics import aggregate_views
from a2video.files import atomic_write, atomic_write_text, check_writable
from a2video.inference.inputs import collect_videos
from a2video.inference.runner import (
    Scorer,
    add_view_arguments,
    pick_device,
    video_views,
    view_spec,
    window_views,
)
from a2video.models.trained import load_trained
from a2video.threads import threads_note


def configure_predict(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Top-k classes per video with a trained model: a table, predictions.csv and "
                          "predictions.json (and windows.csv + timelines/*.png with --window).")
    parser.add_argument("inputs", nargs="+", help="video files, folders and list files (.txt)")
    add_view_arguments(parser)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--out", default="predictions", help="output folder (default: ./predictions)")
    parser.add_argument("--window", type=float, default=None, help="window length in seconds (long videos)")
    parser.add_argument("--stride", type=float, default=None, help="seconds between window starts (default: --window)")


def run_predict(args: argparse.Namespace) -> None:
    if args.window is not None and args.window <= 0 or args.stride is not None and args.stride <= 0:
        raise ConfigError("--window and --stride must be positive numbers of seconds")
    if args.stride is not None and args.window is None:
        raise ConfigError("--stride needs --window")
    videos = collect_videos(args.inputs, args.video_root)
    check_writable(args.out, folder=True)  # found now, not after every video
    device = pick_device(args.device)
    trained = load_trained(args.checkpoint, model=args.model, classes_file=args.classes, device=device)
    spec = view_spec(trained, args)
    scorer = Scorer(trained, device, args.view_chunk)
    k = max(1, min(args.top_k, trained.num_classes))
    out = Path(args.out)
    start = time.perf_counter()
    rows = []
    bar = tqdm(video_views(videos, spec, backend=args.backend, workers=args.workers), total=len(videos),
               unit="video", file=sys.stderr, disable=None)
    for path, views, error in bar:
        rows.append(_video_row(path, None if views is None else scorer.logits(views), error, trained.class_names, k))
        if views is not None:  # what check and prepare say of a damaged or multi-stream file, in their words
            rows[-1]["note"] = "; ".join(video_notes(probe_video(path)).values())
    windows = []
    if args.window is not None:
        for path in tqdm(videos, unit="video", desc="windows", file=sys.stderr, disable=None):
            windows += _window_rows(path, scorer, spec, args, trained.class_names, k)
    elapsed = time.perf_counter() - start

    _write_predictions(out, rows, k)
    if args.window is not None:
        _write_windows(out, windows, k)
        _write_timelines(out / "timelines", windows, trained.class_names)
    print(prediction_table(rows, k=min(k, 3)))
    done = sum(row["status"] == "ok" for row in rows)
    clips, crops = spec.views("test")
    print(f"{len(rows)} videos ({len(rows) - done} failed), {clips}x{crops} views of "
          f"{spec.num_frames}x{spec.sampling_rate} frames at {spec.eval_crop_size}px ({spec.protocol} protocol), {trained.model_name} on {device}: "
          f"{elapsed:.1f} s, {done / elapsed if elapsed else 0:.3g} videos/s, "
          f"{1000 * scorer.seconds_per_view():.0f} ms per view in the network, {threads_note(args)}")
    written = ["predictions.csv", "predictions.json"] + (["windows.csv", "timelines/"] if args.window else [])
    print(f"results in {out}: {', '.join(written)}")


def _video_row(path: str, logits: np.ndarray | None, error: str, class_names: list[str], k: int) -> dict[str, Any]:
    if logits is None:
        return {"path": path, "status": f"failed: {error}", "top": []}
    _, probs = aggregate_views(logits[None], "softmax")  # (1, K): mean of the views' softmax
    order = np.argsort(-probs[0], kind="stable")[:k]
    return {"path": path, "status": "ok", "views": int(logits.shape[0]),
            "top": [{"class": class_names[c], "index": int(c), "probability": float(probs[0, c])} for c in order]}


def _window_rows(path: str, scorer: Scorer, spec, args: argparse.Namespace, class_names: list[str],
                 k: int) -> list[dict[str, Any]]:
    try:
        rows = []
        for begin, end, views in window_views(path, spec, window=args.window, stride=args.stride or args.window,
                                              backend=args.backend):
            row = _video_row(path, scorer.logits(views), "", class_names, len(class_names))
            rows.append({**row, "start": begin, "end": end})
        return rows
    except VideoDecodeError as error:
        return [{"path": path, "status": f"failed: {error.reason}", "top": [], "start": None, "end": None}]


def _csv_bytes(header: list[str], lines: list[list[Any]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(lines)
    return text.getvalue().encode("utf-8")


def _top_columns(k: int) -> list[str]:
    return [f"top{i}_{what}" for i in range(1, k + 1) for what in ("class", "probability")]


def _top_cells(row: dict[str, Any], k: int) -> list[Any]:
    cells: list[Any] = []
    for i in range(k):
        entry = row["top"][i] if i < len(row["top"]) else None
        cells += [entry["class"], f"{entry['probability']:.6f}"] if entry else ["", ""]
    return cells


def _write_predictions(out: Path, rows: list[dict[str, Any]], k: int) -> None:
    lines = [[row["path"], row["status"], *_top_cells(row, k), row.get("note", "")] for row in rows]
    header = ["path", "status", *_top_columns(k), "note"]
    atomic_write(out / "predictions.csv", lambda f: f.write(_csv_bytes(header, lines)))
    atomic_write_text(out / "predictions.json", json.dumps(rows, indent=1) + "\n")


def _write_windows(out: Path, windows: list[dict[str, Any]], k: int) -> None:
    lines = [[w["path"], "" if w["start"] is None else f"{w['start']:.3f}",
              "" if w["end"] is None else f"{w['end']:.3f}", w["status"], *_top_cells(w, k)] for w in windows]
    header = ["path", "start_s", "end_s", "status", *_top_columns(k)]
    atomic_write(out / "windows.csv", lambda f: f.write(_csv_bytes(header, lines)))


def _write_timelines(folder: Path, windows: list[dict[str, Any]], class_names: list[str], shown: int = 5) -> None:
    """One PNG per video: the probability over time of the classes that lead some window."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_video: dict[str, list[dict[str, Any]]] = {}
    for w in windows:
        if w["status"] == "ok":
            by_video.setdefault(w["path"], []).append(w)
    used: set[str] = set()
    for path, rows in by_video.items():
        centres = [(r["start"] + r["end"]) / 2 for r in rows]
        probs = {e["class"]: [] for e in rows[0]["top"]}
        for r in rows:
            for e in r["top"]:
                probs[e["class"]].append(e["probability"])
        leaders = {r["top"][0]["class"] for r in rows}
        order = sorted(leaders, key=lambda name: (-max(probs[name]), name))[:shown]
        fig, ax = plt.subplots(figsize=(8, 3))
        for name in order:
            ax.plot(centres, probs[name], marker="o", label=name)
        ax.set_xlabel("time (s, window centre)")
        ax.set_ylabel("probability")
        ax.set_ylim(0, 1)
        ax.set_title(Path(path).name)
        ax.legend(loc="upper right", fontsize="small")
        fig.tight_layout()
        name = _unique_name(Path(path).stem, used)
        atomic_write(folder / f"{name}.png", lambda f: fig.savefig(f, format="png", dpi=100))
        plt.close(fig)


def _unique_name(stem: str, used: set[str]) -> str:
    name, n = stem, 1
    while name in used:
        n += 1
        name = f"{stem}_{n}"
    used.add(name)
    return name


def prediction_table(rows: list[dict[str, Any]], k: int = 3) -> str:
    """A text table: video, status, top-k classes with probabilities."""
    width = min(48, max(len(Path(r["path"]).name) for r in rows))
    lines = [f"{'video':<{width}}  prediction"]
    for row in rows:
        name = Path(row["path"]).name[-width:]
        if row["status"] != "ok":
            lines.append(f"{name:<{width}}  {row['status']}")
            continue
        lines.append(f"{name:<{width}}  " + ", ".join(f"{e['class']} {100 * e['probability']:.1f}%"
                                                     for e in row["top"][:k]))
    return "\n".join(lines)
