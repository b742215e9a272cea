"""A model samples in ``predict``, ``features`` and ``explain`` exactly as ``a2video test`` did.

The run is Kinetics-style: a ``target_fps`` unlike the files' 25 fps and the ``slowfast`` protocol
(fractional clip starts, linspace'd frames), none of it repeated on the later command lines: it
comes from the clip specification saved in the checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from a2video.data.clips import ClipSpec
from a2video.data.lists import read_list
from a2video.models.trained import load_trained
from engine_helpers import load_checkpoint, run_ok, tiny_config, write_config

CLIPS, CROPS = 3, 3


@pytest.fixture(scope="module")
def kinetics_style_run(synthetic, tmp_path_factory):
    root = tmp_path_factory.mktemp("kinetics_style")
    config = tiny_config(synthetic.source, root / "run", epochs=1, val=False)
    config["data"].update(target_fps=24, protocol="slowfast", test_clips=CLIPS, test_crops=CROPS, num_frames=4,
                          sampling_rate=3)
    path = write_config(root / "config.yaml", config)
    run_ok("fit", "--config", path)
    last = root / "run" / "checkpoints" / "last.ckpt"
    run_ok("test", "--config", path, "--checkpoint", last)  # the spelling of every command (--ckpt_path too)
    with np.load(root / "run" / "test" / "view_logits.npz") as arrays:
        order = np.lexsort((arrays["view_index"], arrays["video_index"]))
        logits = arrays["logits"][order].reshape(-1, CLIPS * CROPS, arrays["logits"].shape[1])  # (N, V, K)
    return root, last, logits


def test_the_checkpoint_holds_the_clip_spec(kinetics_style_run):
    _, last, _ = kinetics_style_run
    saved = ClipSpec.from_dict(load_checkpoint(last)["a2video"]["clip"])
    assert (saved.target_fps, saved.protocol, saved.test_clips, saved.num_frames, saved.sampling_rate) == (
        24, "slowfast", CLIPS, 4, 3)
    assert load_trained(str(last)).clip == saved


def test_predict_features_and_explain_sample_as_test_did(kinetics_style_run, synthetic, tmp_path):
    root, last, test_logits = kinetics_style_run
    dataset = synthetic.source
    videos = [str(Path(dataset.video_root) / sample[0]) for sample in read_list(dataset.test_list)]
    classes = test_logits.shape[2]
    assert test_logits.shape[0] == len(videos)

    run_ok("predict", dataset.test_list, "--video-root", dataset.video_root, "-c", last, "--top-k", classes,
           "--out", tmp_path / "pred")
    rows = json.loads((tmp_path / "pred" / "predictions.json").read_text())
    rows = rows["videos"] if isinstance(rows, dict) else rows
    expected = torch.softmax(torch.from_numpy(test_logits).double(), dim=-1).mean(dim=1).numpy()  # (N, K)
    for row, probabilities in zip(rows, expected):
        assert row["status"] == "ok" and row["views"] == CLIPS * CROPS
        got = np.zeros(classes)
        for entry in row["top"]:
            got[entry["index"]] = entry["probability"]
        np.testing.assert_allclose(got, probabilities, atol=1e-5)

    run_ok("features", dataset.test_list, "--video-root", dataset.video_root, "-c", last, "--out",
           tmp_path / "features.npz")
    with np.load(tmp_path / "features.npz") as arrays:
        features = torch.from_numpy(arrays["features"])
    net = load_trained(str(last)).net.eval()
    with torch.no_grad():
        mean_logits = net.fc(features).numpy()  # the head is linear: head(mean features) = mean logits
    np.testing.assert_allclose(mean_logits, test_logits.mean(axis=1), atol=1e-5)

    # explain's one clip (centre crop) is test's view (clip 1, middle crop) of the same video.
    run_ok("explain", videos[0], "-c", last, "--clip", 1, "--clips", CLIPS, "--out", tmp_path / "explain")
    top5 = json.loads((tmp_path / "explain" / "explain.json").read_text())["top5"]
    view = torch.softmax(torch.from_numpy(test_logits[0, 1 * CROPS + 1]).double(), dim=0).numpy()
    for entry in top5:
        assert entry["probability"] == pytest.approx(view[entry["class"]], abs=1e-5)
