"""End to end through the ``a2video`` command: fit → run folder → test → result files.

The metrics are recomputed here from ``view_logits.npz`` with NumPy alone, independently of
``a2video.evaluation``.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
import yaml

from a2video.data.lists import read_list
from a2video.engine.lightning_cli import parse_config
from a2video.engine.datamodule import VideoDataModule
from a2video.engine.module import VideoClassifier
from engine_helpers import STEPS_PER_EPOCH, TEST_CLIPS, TEST_CROPS, load_checkpoint, run_ok


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _read_predictions(path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_fit_leaves_config_and_checkpoints(source_run):
    saved = yaml.safe_load((source_run.dir / "config.yaml").read_text())
    assert saved["model"]["model"] == "a2net_r26" and saved["model"]["base_width"] == 4
    assert saved["data"]["num_frames"] == 4 and saved["trainer"]["max_epochs"] == 2
    # The saved config is itself a valid config for the command.
    assert parse_config(["fit", "--config", str(source_run.dir / "config.yaml")]).model.base_width == 4
    last = load_checkpoint(source_run.last)
    # last.ckpt is the end of training (2 epochs), whatever the validation metric did meanwhile.
    assert last["global_step"] == 2 * STEPS_PER_EPOCH
    assert last["hyper_parameters"]["num_classes"] == 10
    assert list((source_run.dir / "checkpoints").glob("best-*.ckpt")), "validation ranks a best checkpoint"
    assert list((source_run.dir / "csv").glob("version_*/metrics.csv"))


def test_test_files_agree_with_view_logits(source_run):
    out = source_run.dir / "test"
    for name in ("metrics.json", "predictions.csv", "view_logits.npz", "confusion.png"):
        assert (out / name).is_file(), name
    tested = yaml.safe_load((source_run.dir / "test_config.yaml").read_text())  # beside fit's config.yaml
    assert tested["ckpt_path"] == str(source_run.last) and tested["data"]["test_clips"] == TEST_CLIPS
    metrics = json.loads((out / "metrics.json").read_text())
    npz = np.load(out / "view_logits.npz")
    samples = read_list(source_run.dataset.test_list)
    labels = np.array([label for _, label in samples])
    n, v, k = len(samples), TEST_CLIPS * TEST_CROPS, 10

    assert metrics["num_videos"] == n and metrics["views_per_video"] == v and metrics["num_failed_videos"] == 0
    assert np.array_equal(npz["labels"], labels) and npz["ok"].all()
    assert np.array_equal(npz["video_index"], np.repeat(np.arange(n), v))
    assert np.array_equal(npz["view_index"], np.tile(np.arange(v), n))
    logits = npz["logits"].reshape(n, v, k).astype(np.float64)
    assert np.isfinite(logits).all()

    clip_top1 = 100 * np.mean(logits.argmax(-1) == labels[:, None])
    clip_top5 = 100 * np.mean((np.argsort(-logits, axis=-1)[..., :5] == labels[:, None, None]).any(-1))
    video_scores = _softmax(logits).mean(axis=1)
    video_pred = video_scores.argmax(-1)
    video_top1 = 100 * np.mean(video_pred == labels)
    per_class = [np.mean(video_pred[labels == c] == c) for c in np.unique(labels)]
    assert metrics["clip_top1"] == pytest.approx(clip_top1)
    assert metrics["clip_top5"] == pytest.approx(clip_top5)
    assert metrics["video_top1"] == pytest.approx(video_top1)
    assert metrics["mean_class_accuracy"] == pytest.approx(100 * np.mean(per_class))
    assert metrics["aggregate"] == "softmax"

    rows = _read_predictions(out / "predictions.csv")
    assert [r["path"] for r in rows] == [path for path, _ in samples]
    assert [int(r["label"]) for r in rows] == labels.tolist()
    assert [int(r["prediction"]) for r in rows] == video_pred.tolist()
    assert [float(r["top1_score"]) for r in rows] == pytest.approx(video_scores.max(-1).tolist(), abs=1e-6)


def test_test_logits_come_from_the_checkpoint(source_run):
    """The first test view, recomputed here from the checkpoint's weights, matches view_logits.npz."""
    module = VideoClassifier.load_from_checkpoint(source_run.last, map_location="cpu").eval()
    datamodule = VideoDataModule(**yaml.safe_load(source_run.config.read_text())["data"])
    datamodule.setup("test")
    item = datamodule.datasets["test"][0]
    video = datamodule.on_after_batch_transfer({"video": item["video"][None]}, 0)["video"]  # (1, V, C, T, H, W)
    with torch.no_grad():
        logits = module(video[0]).numpy()  # (V, K)
    stored = np.load(source_run.dir / "test" / "view_logits.npz")["logits"][: logits.shape[0]]
    np.testing.assert_allclose(stored, logits, rtol=1e-4, atol=1e-5)


def test_test_options_on_the_command_line_beat_the_checkpoint(source_run, tmp_path):
    """``--model.aggregate logits`` and ``--model.eval_dir`` apply when testing a checkpoint
    (Lightning would have replaced the whole model section by the checkpoint's)."""
    out = tmp_path / "eval"
    run_ok("test", "--config", source_run.config, "--ckpt_path", source_run.last,
           "--model.aggregate", "logits", "--model.eval_dir", out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["aggregate"] == "logits"
    npz = np.load(out / "view_logits.npz")
    n, v = metrics["num_videos"], metrics["views_per_video"]
    mean_logits = npz["logits"].reshape(n, v, -1).mean(axis=1)
    rows = _read_predictions(out / "predictions.csv")
    assert [int(r["prediction"]) for r in rows] == mean_logits.argmax(-1).tolist()
    assert metrics["video_top1"] == pytest.approx(100 * np.mean(mean_logits.argmax(-1) == npz["labels"]))
