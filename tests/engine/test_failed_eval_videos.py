"""An undecodable video in the val and the test list, through the real model and the command.

``a2video validate`` and ``a2video test`` run the source run's checkpoint on lists that hold the
set's videos plus one text file named ``.mp4``. The expected figures are computed here from the
checkpoint's weights, view by view, independently of the module's metric code. The labels are
chosen so that the outcome is known whatever the tiny model learned: the broken video's label is
the class the model gives its black (all-zero) views, so code that scored those views as a real
video would count it right; the good videos alternate between their predicted class (right) and
the next class (wrong), so code that dropped the broken video would get another mean.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from a2video.data.lists import read_list, write_list
from a2video.engine.datamodule import VideoDataModule
from a2video.engine.module import VideoClassifier
from engine_helpers import TEST_CLIPS, TEST_CROPS, run_ok, tiny_config, write_config

BROKEN = "broken/not_a_video.mp4"
NUM_CLASSES = 10


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _view_logits(module: VideoClassifier, datamodule: VideoDataModule, split: str) -> list[np.ndarray]:
    """(V, K) float64 logits of every video of a split, recomputed outside the Lightning loops."""
    result = []
    for item in datamodule.datasets[split]:
        video = datamodule.on_after_batch_transfer({"video": item["video"][None]}, 0)["video"]  # (1, V, C, T, H, W)
        with torch.no_grad():
            result.append(module(video[0]).double().numpy())  # (V, K)
    return result


def _labelled(logits: list[np.ndarray], ok: list[bool]) -> list[int]:
    """Labels with a known outcome: broken video = its black views' class, good videos right/wrong in turn."""
    labels = []
    good_position = 0
    for view_logits, video_ok in zip(logits, ok):
        predicted = int(_softmax(view_logits).mean(0).argmax())  # the video's prediction
        if not video_ok:
            labels.append(predicted)
            continue
        labels.append(predicted if good_position % 2 == 0 else (predicted + 1) % NUM_CLASSES)
        good_position += 1
    return labels


@pytest.fixture(scope="module")
def evaluated(source_run, tmp_path_factory):
    """Val and test lists with one broken video each; validate and test the source checkpoint on them."""
    root = tmp_path_factory.mktemp("failed_eval")
    videos = root / "videos"
    videos.mkdir()
    (videos / "source").symlink_to(source_run.dataset.video_root, target_is_directory=True)
    (videos / "broken").mkdir()
    (videos / BROKEN).write_text("this is a text file, not a video\n")

    config = tiny_config(source_run.dataset, root / "run")
    data = config["data"]
    data.update(video_root=str(videos), classes_file=str(Path(source_run.dataset.root) / "classes.txt"))
    module = VideoClassifier.load_from_checkpoint(source_run.last, map_location="cpu").eval()
    lists = {}
    for split, key in (("val", "val_list"), ("test", "test_list")):
        samples = [(f"source/{path}", label) for path, label in read_list(data[key])]
        broken_row = len(samples) // 2
        samples.insert(broken_row, (BROKEN, 0))  # a failed video mid-list, in a batch with good ones
        write_list(root / f"{split}.txt", samples)
        data[key] = str(root / f"{split}.txt")
        datamodule = VideoDataModule(**data)
        datamodule.setup("validate" if split == "val" else "test")
        logits = _view_logits(module, datamodule, split)
        ok = [bool(item["ok"]) for item in datamodule.datasets[split]]
        assert ok.count(False) == 1 and not ok[broken_row]
        labels = _labelled(logits, ok)
        write_list(root / f"{split}.txt", [(path, label) for (path, _), label in zip(samples, labels)])
        lists[split] = (np.stack(logits), np.array(labels), np.array(ok))

    path = write_config(root / "config.yaml", config)
    run_ok("validate", "--config", path, "--ckpt_path", source_run.last)
    run_ok("test", "--config", path, "--ckpt_path", source_run.last)
    return root / "run", lists


def _logged_val_metrics(run_dir: Path) -> dict[str, float]:
    """The ``val/*`` row of the CSV logs (``validate`` and ``test`` each log to their own version)."""
    rows = []
    for log in (run_dir / "csv").glob("version_*/metrics.csv"):
        with open(log, newline="") as f:
            rows += [row for row in csv.DictReader(f) if row.get("val/clip_top1")]
    assert len(rows) == 1, f"expected one validation row in {run_dir / 'csv'}, found {len(rows)}"
    return {key: float(value) for key, value in rows[0].items() if key.startswith("val/") and value}


def test_validation_counts_the_broken_video_as_wrong(evaluated):
    run_dir, lists = evaluated
    logits, labels, ok = lists["val"]  # (N, V, K), (N,), (N,)
    n, v, _ = logits.shape
    ranked = np.argsort(-logits, axis=-1, kind="stable")  # (N, V, K)
    hit1 = (ranked[..., 0] == labels[:, None]) & ok[:, None]
    hit5 = (ranked[..., :5] == labels[:, None, None]).any(-1) & ok[:, None]
    assert hit1[ok].sum() == (ok.sum() + 1) // 2, "the good videos alternate right and wrong"
    assert (ranked[~ok][..., 0] == labels[~ok, None]).all(), "the black views predict the broken video's label"

    logged = _logged_val_metrics(run_dir)
    assert logged["val/clip_top1"] == pytest.approx(100 * hit1.sum() / (n * v), abs=1e-3)
    assert logged["val/clip_top5"] == pytest.approx(100 * hit5.sum() / (n * v), abs=1e-3)
    # The loss is the mean over the views that were decoded: black frames have no true label to score.
    good = logits[ok].reshape(-1, logits.shape[-1])  # (n_ok * V, K)
    log_probs = good - good.max(-1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(-1, keepdims=True))
    good_labels = np.repeat(labels[ok], v)
    expected_loss = -log_probs[np.arange(len(good_labels)), good_labels].mean()
    assert logged["val/loss"] == pytest.approx(expected_loss, rel=1e-4)


def test_test_files_count_the_broken_video_as_wrong(evaluated):
    run_dir, lists = evaluated
    logits, labels, ok = lists["test"]
    n, v, k = logits.shape
    assert v == TEST_CLIPS * TEST_CROPS
    broken = int(np.flatnonzero(~ok)[0])
    out = run_dir / "test"
    metrics = json.loads((out / "metrics.json").read_text())

    assert metrics["num_videos"] == n and metrics["num_failed_videos"] == 1
    [failed] = metrics["failed_videos"]
    assert failed["index"] == broken and failed["path"] == BROKEN and failed["label"] == labels[broken]
    assert failed["error"]

    video_pred = _softmax(logits).mean(1).argmax(-1)  # (N,)
    assert video_pred[broken] == labels[broken], "scored as a video, the black views would be right"
    video_hit = (video_pred == labels) & ok
    clip_hit = (logits.argmax(-1) == labels[:, None]) & ok[:, None]
    per_class = [video_hit[labels == c].mean() for c in np.unique(labels)]
    assert metrics["video_top1"] == pytest.approx(100 * video_hit.mean(), abs=1e-3)
    assert metrics["clip_top1"] == pytest.approx(100 * clip_hit.mean(), abs=1e-3)
    assert metrics["mean_class_accuracy"] == pytest.approx(100 * np.mean(per_class), abs=1e-3)

    with open(out / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == n
    assert rows[broken]["path"] == BROKEN and rows[broken]["status"].startswith("failed: ")
    assert rows[broken]["prediction"] == ""
    assert all(row["status"] == "ok" for i, row in enumerate(rows) if i != broken)
    npz = np.load(out / "view_logits.npz")
    assert npz["ok"].tolist() == ok.tolist()
    assert broken not in npz["video_index"] and len(npz["video_index"]) == (n - 1) * v
