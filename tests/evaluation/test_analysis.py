"""`a2video analyze` on synthetic result folders whose right answers are computed here, with
plain per-video loops independent of the package's vectorised code."""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from a2video.errors import A2VideoError, ConfigError
from a2video.evaluation import write_evaluation
from a2video.evaluation.analysis import (
    AnalysisError,
    analyze_run,
    calibration_summary,
    load_test_run,
)
from a2video.evaluation.compare import compare_runs
from a2video.commands.analyze import configure_analyze, run_analyze

CLIPS, CROPS, K = 4, 3, 6
# The views curve's definition for 4 clips: k clips = the k most evenly spread ones.
SPREAD = {1: [2], 2: [1, 3], 3: [0, 2, 3], 4: [0, 1, 2, 3]}


def make_folder(folder: Path, *, n=40, seed=0, failed=(5, 17), paths=None, clips_recorded=True,
                aggregate="softmax") -> dict:
    """A test folder as `a2video test` writes it; returns its inputs."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, K, n)
    labels[:K] = np.arange(K)  # every class present
    logits = rng.normal(size=(n, CLIPS * CROPS, K)).astype(np.float32)
    # Views of clip 2 and centre crops see the label better, so the views curve is not flat.
    boost = np.full((CLIPS, CROPS), 0.6)
    boost[2] += 0.8
    boost[:, 1] += 0.5
    logits[np.arange(n), :, labels] += boost.reshape(-1)
    logits[[30, 31, 32], :, labels[[30, 31, 32]]] -= 6.0  # hopeless videos: every view wrong
    ok = np.ones(n, bool)
    ok[list(failed)] = False
    logits[~ok] = np.nan
    inputs = {
        "paths": paths or [f"c{labels[i]}/video_{i:03d}.mp4" for i in range(n)],
        "labels": labels, "ok": ok,
        "errors": ["" if good else "cannot decode" for good in ok],
        "view_logits": logits, "class_names": [f"class {c}" for c in range(K)],
    }
    extra = {"clips": CLIPS, "crops": CROPS} if clips_recorded else {}
    write_evaluation(folder, aggregate=aggregate, **inputs, **extra)
    return inputs


def softmax_row(x) -> np.ndarray:
    e = np.exp(np.asarray(x, dtype=np.float64) - max(x))
    return e / e.sum()


def top(scores) -> list[int]:
    return sorted(range(len(scores)), key=lambda c: (-scores[c], c))


def expected_video(rows, aggregate="softmax") -> tuple[list[int], np.ndarray]:
    """(classes by decreasing score, reported probabilities) of one video from its view logits."""
    if aggregate == "softmax":
        probs = sum(softmax_row(r) for r in rows) / len(rows)
        return top(probs), probs
    mean = sum(np.asarray(r, dtype=np.float64) for r in rows) / len(rows)
    return top(mean), softmax_row(mean)


def test_views_curve_per_class_pairs_and_lists_match_loops(tmp_path):
    d = make_folder(tmp_path / "test")
    analysis = analyze_run(load_test_run(tmp_path / "test"))
    n = len(d["labels"])

    curve = {(p["clips"], p["crops"]): p for p in analysis.views_curve}
    assert sorted(curve) == [(k, c) for k in range(1, CLIPS + 1) for c in (1, CROPS)]
    for (k, crops), point in curve.items():
        views = [clip * CROPS + crop for clip in SPREAD[k] for crop in ([1] if crops == 1 else range(CROPS))]
        clip_hits = video_hits = video_top5 = 0
        for i in range(n):
            if not d["ok"][i]:
                continue
            rows = [d["view_logits"][i, v] for v in views]
            clip_hits += sum(top(r)[0] == d["labels"][i] for r in rows)
            order, _ = expected_video(rows)
            video_hits += order[0] == d["labels"][i]
            video_top5 += d["labels"][i] in order[:5]
        assert point["views"] == len(views)
        assert point["clip_top1"] == pytest.approx(100 * clip_hits / (n * len(views)))
        assert point["video_top1"] == pytest.approx(100 * video_hits / n)
        assert point["video_top5"] == pytest.approx(100 * video_top5 / n)
    assert curve[(1, 1)]["video_top1"] != curve[(CLIPS, CROPS)]["video_top1"]  # a curve, not a line
    metrics = json.loads((tmp_path / "test" / "metrics.json").read_text())
    for key in ("clip_top1", "video_top1", "video_top5"):
        assert curve[(CLIPS, CROPS)][key] == pytest.approx(metrics[key])

    predictions = {}
    for i in range(n):
        if d["ok"][i]:
            predictions[i] = expected_video(d["view_logits"][i])[0][0]
    per_class = {r["class"]: r for r in analysis.per_class}
    for c in range(K):
        members = [i for i in range(n) if d["labels"][i] == c]
        correct = sum(predictions.get(i) == c for i in members)
        assert per_class[c]["videos"] == len(members)
        assert per_class[c]["correct"] == correct
        assert per_class[c]["failed"] == sum(not d["ok"][i] for i in members)
        assert per_class[c]["accuracy"] == pytest.approx(100 * correct / len(members))
    accuracies = [r["accuracy"] for r in analysis.per_class]
    assert accuracies == sorted(accuracies)
    assert np.mean(accuracies) == pytest.approx(metrics["mean_class_accuracy"])

    pairs = Counter((int(d["labels"][i]), p) for i, p in predictions.items() if p != d["labels"][i])
    got = [(p["true"], p["predicted"], p["count"]) for p in analysis.confused_pairs]
    assert sorted(got) == sorted((t, q, c) for (t, q), c in pairs.items())
    assert [c for _, _, c in got] == sorted((c for _, _, c in got), reverse=True)

    wrong_everywhere = [i for i in predictions
                        if all(top(r)[0] != d["labels"][i] for r in d["view_logits"][i])]
    assert wrong_everywhere, "the synthetic run must contain such videos for this check to mean anything"
    assert [r["index"] for r in analysis.all_views_wrong] == wrong_everywhere
    misclassified = [i for i, p in predictions.items() if p != d["labels"][i]]
    assert sorted(r["index"] for r in analysis.misclassified) == misclassified
    confidences = [r["confidence"] for r in analysis.misclassified]
    assert confidences == sorted(confidences, reverse=True)
    assert [r["path"] for r in analysis.failed] == [d["paths"][5], d["paths"][17]]


def test_calibration_matches_a_loop_over_bins(tmp_path):
    d = make_folder(tmp_path / "test", aggregate="logits")
    analysis = analyze_run(load_test_run(tmp_path / "test"), bins=10)
    conf, right = [], []
    for i in np.flatnonzero(d["ok"]):
        order, probs = expected_video(d["view_logits"][i], "logits")
        conf.append(probs[order[0]])
        right.append(order[0] == d["labels"][i])
    ece = 0.0
    for b in range(10):
        members = [j for j, c in enumerate(conf) if b / 10 <= c < (b + 1) / 10 or (b == 9 and c == 1.0)]
        if members:
            ece += len(members) / len(conf) * abs(np.mean([right[j] for j in members])
                                                   - np.mean([conf[j] for j in members]))
    video = analysis.calibration["video"]
    assert video["ece"] == pytest.approx(100 * ece)
    assert video["count"] == len(conf) == sum(b["count"] for b in video["bins"])
    assert analysis.calibration["clip"]["count"] == len(conf) * CLIPS * CROPS


def test_calibration_of_known_cases():
    perfect = calibration_summary(np.array([0.95] * 20), np.array([True] * 19 + [False]), bins=10)
    assert perfect["ece"] == pytest.approx(0.0, abs=1e-9)
    over = calibration_summary(np.array([0.9, 0.9, 0.3, 1.0]), np.array([False, False, True, True]), bins=5)
    # bins: [0.8, 1.0] holds 0.9, 0.9, 1.0 (acc 1/3, conf 0.9333); [0.2, 0.4) holds 0.3 (acc 1)
    assert over["ece"] == pytest.approx(100 * (3 / 4 * abs(1 / 3 - 2.8 / 3) + 1 / 4 * 0.7))


def test_rows_in_another_order_and_logits_aggregate_give_the_same_analysis(tmp_path):
    make_folder(tmp_path / "test", aggregate="logits")
    first = analyze_run(load_test_run(tmp_path / "test"))
    npz_path = tmp_path / "test" / "view_logits.npz"
    with np.load(npz_path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    order = np.random.default_rng(1).permutation(len(arrays["logits"]))
    for key in ("video_index", "view_index", "logits"):
        arrays[key] = arrays[key][order]
    np.savez(npz_path, **arrays)
    second = analyze_run(load_test_run(tmp_path / "test"))
    assert second.views_curve == first.views_curve
    assert second.per_class == first.per_class
    metrics = json.loads((tmp_path / "test" / "metrics.json").read_text())
    assert first.views_curve[-1]["video_top1"] == pytest.approx(metrics["video_top1"])


def test_clips_and_crops_from_the_run_config_or_guessed(tmp_path):
    make_folder(tmp_path / "run" / "test", clips_recorded=False)
    run = load_test_run(tmp_path / "run" / "test")
    assert (run.clips, run.crops, run.views_known, run.video_root) == (4, 3, False, None)
    config = {"data": {"test_clips": 2, "test_crops": 6, "video_root": "/videos"}}
    (tmp_path / "run" / "test_config.yaml").write_text(yaml.safe_dump(config))
    run = load_test_run(tmp_path / "run" / "test")
    assert (run.clips, run.crops, run.views_known, run.video_root) == (2, 6, True, "/videos")


def test_ensemble_of_two_runs_over_the_same_videos(tmp_path):
    a = make_folder(tmp_path / "a" / "test", seed=0)
    # Run b holds the same videos in another order, and fails on other videos.
    order = np.random.default_rng(3).permutation(len(a["paths"]))
    b_raw = make_folder(tmp_path / "tmp", seed=4, failed=(5, 9))
    b = {"paths": [a["paths"][i] for i in order], "labels": a["labels"][order], "ok": b_raw["ok"][order],
         "errors": [b_raw["errors"][i] for i in order], "view_logits": b_raw["view_logits"][order],
         "class_names": a["class_names"]}
    write_evaluation(tmp_path / "b" / "test", clips=CLIPS, crops=CROPS, **b)
    analyses = [analyze_run(load_test_run(tmp_path / x / "test", name=x)) for x in "ab"]
    result = compare_runs(analyses)
    assert result["kind"] == "ensemble"

    where_b = {p: i for i, p in enumerate(b["paths"])}
    hits = hits5 = 0
    per_class = {c: [] for c in range(K)}
    for i, path in enumerate(a["paths"]):
        members = []
        if a["ok"][i]:
            members.append(expected_video(a["view_logits"][i])[1])
        j = where_b[path]
        if b["ok"][j]:
            members.append(expected_video(b["view_logits"][j])[1])
        right = right5 = False
        if members:
            order = top(sum(members) / len(members))
            right, right5 = order[0] == a["labels"][i], a["labels"][i] in order[:5]
        hits += right
        hits5 += right5
        per_class[int(a["labels"][i])].append(right)
    n = len(a["paths"])
    assert not a["ok"][5] and not b["ok"][where_b[a["paths"][5]]]  # failed in both: counted wrong
    ensemble = result["ensemble"]
    assert ensemble["video_top1"] == pytest.approx(100 * hits / n)
    assert ensemble["video_top5"] == pytest.approx(100 * hits5 / n)
    assert ensemble["mean_class_accuracy"] == pytest.approx(100 * np.mean([np.mean(v) for v in per_class.values()]))
    assert ensemble["num_failed_in_all"] == 1


def test_disjoint_runs_are_splits_and_partial_overlap_is_neither(tmp_path):
    folders = []
    for s in range(3):
        paths = [f"split{s}/v{i}.mp4" for i in range(40)]
        make_folder(tmp_path / f"split{s + 1}" / "test", seed=s, paths=paths)
        folders.append(tmp_path / f"split{s + 1}" / "test")
    analyses = [analyze_run(load_test_run(f, name=f.parent.name)) for f in folders]
    result = compare_runs(analyses)
    assert result["kind"] == "splits"
    video = [json.loads((f / "metrics.json").read_text())["video_top1"] for f in folders]
    assert result["splits"]["mean"]["video_top1"] == pytest.approx(sum(video) / 3)

    make_folder(tmp_path / "overlap" / "test", paths=[f"split0/v{i}.mp4" for i in range(20)]
                + [f"other/v{i}.mp4" for i in range(20)])
    overlap = analyze_run(load_test_run(tmp_path / "overlap" / "test"))
    assert compare_runs([analyses[0], overlap])["kind"] == "unrelated"


def analyze_command(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="a2video analyze")
    configure_analyze(parser)
    run_analyze(parser.parse_args(argv))


def test_analyze_command_writes_files_and_report(tmp_path, capsys):
    for s in (1, 2):
        make_folder(tmp_path / "runs" / f"split{s}" / "test", seed=s, paths=[f"s{s}/{i}.mp4" for i in range(40)])
    analyze_command([str(tmp_path / "runs" / f"split{s}" / "test") for s in (1, 2)])
    out = tmp_path / "runs" / "analysis"
    printed = capsys.readouterr().out
    assert "mean of 2 splits" in printed and f"report: {out / 'report.html'}" in printed
    content = json.loads((out / "analysis.json").read_text())
    assert [r["name"] for r in content["runs"]] == ["split1", "split2"]
    assert content["comparison"]["kind"] == "splits"
    with open(out / "split1" / "per_class.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == K and float(rows[0]["accuracy"]) <= float(rows[-1]["accuracy"])
    assert (out / "split2" / "confusion_full.png").read_bytes()[:4] == b"\x89PNG"
    page = (out / "report.html").read_text()
    assert "Runs compared" in page and "mean of 2 splits" in page
    assert "http://" not in page and "https://" not in page  # nothing to fetch from the network
    assert not list(out.rglob(".*.tmp"))


def test_single_run_report_goes_into_the_test_folder(tmp_path, capsys):
    make_folder(tmp_path / "test")
    analyze_command([str(tmp_path / "test")])
    for name in ("report.html", "analysis.json", "per_class.csv", "confused_pairs.csv", "misclassified.csv",
                 "confusion_full.png"):
        assert (tmp_path / "test" / name).stat().st_size > 0, name
    with open(tmp_path / "test" / "misclassified.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == len(analyze_run(load_test_run(tmp_path / "test")).misclassified)


def test_user_errors_are_one_line_and_name_the_file(tmp_path):
    with pytest.raises(AnalysisError, match="no such test folder"):
        analyze_command([str(tmp_path / "nowhere")])
    make_folder(tmp_path / "test")
    (tmp_path / "test" / "view_logits.npz").unlink()
    with pytest.raises(A2VideoError, match=r"view_logits\.npz: file not found"):
        analyze_command([str(tmp_path / "test")])
    (tmp_path / "test" / "view_logits.npz").write_bytes(b"not a zip")
    with pytest.raises(A2VideoError, match=r"view_logits\.npz: cannot read"):
        analyze_command([str(tmp_path / "test")])
    (tmp_path / "test" / "metrics.json").write_text("{")
    with pytest.raises(A2VideoError, match=r"metrics\.json: cannot read"):
        analyze_command([str(tmp_path / "test")])
    with pytest.raises(ConfigError, match="2 names for 1 runs"):
        analyze_command([str(tmp_path / "test"), "--names", "a", "b"])


def test_a_run_where_every_video_failed_still_gets_its_report(tmp_path):
    n = 3
    write_evaluation(tmp_path / "test", paths=[f"v{i}.mp4" for i in range(n)], labels=np.array([0, 1, 0]),
                     ok=np.zeros(n, bool), errors=["truncated"] * n, view_logits=np.full((n, 2, 2), np.nan),
                     class_names=["a", "b"], clips=2, crops=1)
    analyze_command([str(tmp_path / "test")])
    content = json.loads((tmp_path / "test" / "analysis.json").read_text())["runs"][0]
    assert [p["video_top1"] for p in content["views_curve"]] == [0.0, 0.0]
    assert [f["error"] for f in content["failed"]] == ["truncated"] * n
    assert "Failed videos (3)" in (tmp_path / "test" / "report.html").read_text()
