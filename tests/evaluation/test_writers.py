"""Result files: written, re-read, and re-aggregated here without the package's metric code."""

from __future__ import annotations

import csv
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from a2video.evaluation import (
    PREDICTIONS_COLUMNS,
    format_summary,
    write_evaluation,
    writers,
)
from a2video.evaluation.metrics import compute_metrics
from a2video.files import atomic_write


def make_run(n=30, v=4, k=7, seed=0, failed=(3, 11, 12)):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    logits = rng.normal(size=(n, v, k)).astype(np.float32)
    logits[np.arange(n), :, labels] += 1.0
    ok = np.ones(n, bool)
    ok[list(failed)] = False
    logits[~ok] = np.nan
    errors = ["" if good else f"cannot decode video {i}" for i, good in enumerate(ok)]
    return {
        "paths": [f"class_{labels[i]}/video, {i}.mp4" for i in range(n)],  # comma: CSV quoting
        "labels": labels,
        "ok": ok,
        "errors": errors,
        "view_logits": logits,
        "class_names": [f"class {c}" for c in range(k)],
    }


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == PREDICTIONS_COLUMNS
        return list(reader)


def reaggregate(npz: dict, aggregate: str) -> dict:
    """What a user would do with view_logits.npz alone: plain NumPy, loops over videos."""
    n, k = len(npz["labels"]), len(npz["class_names"])
    kk = min(5, k)
    v = int(npz["view_index"].max()) + 1
    clip1 = clip5 = 0
    top, scores = {}, {}
    for i in np.unique(npz["video_index"]):
        rows = npz["logits"][npz["video_index"] == i].astype(np.float64)
        y = npz["labels"][i]
        for row in rows:
            order = sorted(range(k), key=lambda c: (-row[c], c))
            clip1 += order[0] == y
            clip5 += y in order[:kk]
        e = np.exp(rows - rows.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        if aggregate == "softmax":
            rank = shown = p.mean(axis=0)
        else:
            rank = rows.mean(axis=0)
            shown = np.exp(rank - rank.max()) / np.exp(rank - rank.max()).sum()
        order = sorted(range(k), key=lambda c: (-rank[c], c))[:kk]
        top[int(i)] = order
        scores[int(i)] = [shown[c] for c in order]
    vid1 = sum(top[i][0] == npz["labels"][i] for i in top)
    vid5 = sum(npz["labels"][i] in top[i] for i in top)
    return {
        "clip_top1": 100 * clip1 / (n * v),
        "clip_top5": 100 * clip5 / (n * v),
        "video_top1": 100 * vid1 / n,
        "video_top5": 100 * vid5 / n,
        "top": top,
        "scores": scores,
    }


@pytest.mark.parametrize("aggregate", ["softmax", "logits"])
def test_files_are_consistent_with_an_independent_reaggregation(tmp_path, aggregate):
    run = make_run()
    out = tmp_path / "eval" / "nested"  # created by the writer
    returned = write_evaluation(out, aggregate=aggregate, **run)

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == returned
    assert sorted(p.name for p in out.iterdir()) == [
        "confusion.png", "metrics.json", "predictions.csv", "view_logits.npz"
    ]  # no temporary files left behind
    assert (out / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    with np.load(out / "view_logits.npz") as f:  # allow_pickle stays False: plain arrays only
        npz = {key: f[key] for key in f.files}
    assert set(npz) >= {"video_index", "view_index", "logits", "labels", "ok", "paths", "class_names"}
    assert npz["logits"].shape == (27 * 4, 7) and np.isfinite(npz["logits"]).all()
    assert npz["paths"].tolist() == run["paths"] and npz["class_names"].tolist() == run["class_names"]
    np.testing.assert_array_equal(npz["ok"], run["ok"])
    np.testing.assert_array_equal(npz["labels"], run["labels"])
    i, j = npz["video_index"][5], npz["view_index"][5]
    np.testing.assert_array_equal(npz["logits"][5], run["view_logits"][i, j])

    want = reaggregate(npz, aggregate)
    for key in ("clip_top1", "clip_top5", "video_top1", "video_top5"):
        assert metrics[key] == pytest.approx(want[key], abs=1e-9), key
    assert metrics["num_videos"] == 30 and metrics["num_failed_videos"] == 3
    assert metrics["views_per_video"] == 4 and metrics["num_classes"] == 7
    assert metrics["aggregate"] == aggregate
    assert [f["index"] for f in metrics["failed_videos"]] == [3, 11, 12]
    assert metrics["failed_videos"][0] == {
        "index": 3, "path": run["paths"][3], "label": int(run["labels"][3]), "error": "cannot decode video 3"
    }

    rows = read_csv(out / "predictions.csv")
    assert [r["path"] for r in rows] == run["paths"]
    correct = []
    for idx, row in enumerate(rows):
        assert int(row["label"]) == run["labels"][idx]
        assert row["label_name"] == run["class_names"][run["labels"][idx]]
        if idx in want["top"]:
            names = [run["class_names"][c] for c in want["top"][idx]]
            assert row["status"] == "ok"
            assert int(row["prediction"]) == want["top"][idx][0]
            assert row["prediction_name"] == names[0]
            assert [row[f"top{r}_class"] for r in range(1, 6)] == names
            got_scores = [float(row[f"top{r}_score"]) for r in range(1, 6)]
            np.testing.assert_allclose(got_scores, want["scores"][idx], atol=1e-6)
            correct.append(int(row["prediction"]) == int(row["label"]))
        else:
            assert row["status"] == f"failed: cannot decode video {idx}"
            assert row["prediction"] == row["prediction_name"] == row["top1_class"] == row["top1_score"] == ""
            correct.append(False)
    assert metrics["video_top1"] == pytest.approx(100 * np.mean(correct))  # CSV agrees with JSON
    # Mean class accuracy from the CSV alone.
    per_class = {}
    for row, c in zip(rows, correct):
        per_class.setdefault(row["label"], []).append(c)
    assert metrics["mean_class_accuracy"] == pytest.approx(100 * np.mean([np.mean(v) for v in per_class.values()]))


def test_fewer_than_five_classes_leaves_extra_columns_empty(tmp_path):
    run = make_run(n=6, v=2, k=3, failed=())
    metrics = write_evaluation(tmp_path, **run)
    assert metrics["top_k"] == 3
    for row in read_csv(tmp_path / "predictions.csv"):
        assert row["top3_class"] != "" and row["top4_class"] == row["top5_score"] == ""
        assert sorted([row["top1_class"], row["top2_class"], row["top3_class"]]) == run["class_names"]


def test_non_finite_logits_of_an_ok_video_are_reported_as_failed(tmp_path):
    run = make_run(n=5, failed=())
    run["view_logits"][2, 1, 0] = np.inf
    metrics = write_evaluation(tmp_path, **run)
    assert metrics["num_failed_videos"] == 1
    assert metrics["failed_videos"][0]["error"] == "non-finite logits"
    assert read_csv(tmp_path / "predictions.csv")[2]["status"] == "failed: non-finite logits"
    with np.load(tmp_path / "view_logits.npz") as f:
        assert 2 not in f["video_index"] and not f["ok"][2]


def test_multiline_or_empty_reasons_become_one_line(tmp_path):
    run = make_run(n=4, failed=(0, 1))
    run["errors"][0] = "decoder said:\nmoov atom not found"
    run["errors"][1] = ""
    metrics = write_evaluation(tmp_path, **run)
    assert [f["error"] for f in metrics["failed_videos"]] == ["decoder said: moov atom not found", "unknown error"]


def test_mismatched_inputs_are_rejected(tmp_path):
    run = make_run(n=4, failed=())
    with pytest.raises(ValueError, match="one entry per video"):
        write_evaluation(tmp_path, **{**run, "paths": run["paths"][:3]})
    with pytest.raises(ValueError, match="class names"):
        write_evaluation(tmp_path, **{**run, "class_names": run["class_names"][:-1]})


def test_confusion_figure_labels_up_to_100_classes_and_no_more():
    for k, labelled in ((12, True), (150, False)):
        run = make_run(n=k, v=1, k=k, failed=(0,))
        result = compute_metrics(run["view_logits"], run["labels"], run["ok"])
        fig = writers._confusion_figure(result, run["class_names"])
        ax = fig.axes[0]
        ticks = [t.get_text() for t in ax.get_yticklabels()]
        assert (ticks == run["class_names"]) is labelled
        assert "1 failed videos not shown" in fig.get_suptitle()
        image = ax.get_images()[0].get_array()
        rows = result.confusion.sum(axis=1) > 0
        np.testing.assert_allclose(np.asarray(image)[rows].sum(axis=1), 1.0)  # row-normalised


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")

    def broken(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_evaluation(tmp_path, **make_run(n=4, failed=()))
    finally:
        os.umask(old)
    assert {stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()} == {0o644}


def test_format_summary_shows_the_table_and_failures(tmp_path):
    run = make_run(n=10, k=4, failed=(2,))
    metrics = write_evaluation(tmp_path, **run)
    text = format_summary(metrics, tmp_path)
    assert f"{metrics['video_top1']:.2f}" in text and f"{metrics['clip_top5']:.2f}" in text
    assert f"{metrics['mean_class_accuracy']:.2f}" in text
    assert "top-4" in text  # K = 4
    assert "1 failed" in text and run["paths"][2] in text
    assert str(tmp_path) in text
    assert len(text.splitlines()) <= 12
