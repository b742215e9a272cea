"""``a2video export`` round trips (TorchScript, ONNX through onnxruntime, torch.export) and
``a2video features`` against the network run by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from a2video.cli import main
from a2video.data.clips import ClipSpec
from a2video.data.datasets import EvalVideoDataset


@pytest.fixture(scope="module")
def exported(tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("exported")
    formats = ["torchscript", "export"]
    try:
        import onnx  # noqa: F401

        formats.append("onnx")
    except ImportError:  # the `test` extra installs it; without it only the ONNX test skips
        pass
    assert main(["export", str(tiny_checkpoint.path), "--out", str(out), "--format", *formats]) == 0
    return out


def _input(batch: int) -> torch.Tensor:
    return torch.randn(batch, 3, 4, 32, 32, generator=torch.Generator().manual_seed(batch))


def _relative(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / np.abs(b).max())


def test_preprocessing_json(exported, tiny_checkpoint):
    meta = json.loads((exported / "preprocessing.json").read_text())
    p = meta["preprocessing"]
    assert p["mean"] == [0.45] * 3 and p["std"] == [0.225] * 3 and p["value_range"] == 1.0
    assert (p["num_frames"], p["sampling_rate"], p["test_crop_size"]) == (4, 2, 32)
    assert meta["class_names"] == tiny_checkpoint.classes and meta["input"]["layout"] == "NCTHW"


def test_torchscript_round_trip(exported, tiny_checkpoint):
    loaded = torch.jit.load(str(exported / "model.torchscript.pt"))
    x = _input(3)
    with torch.no_grad():
        assert _relative(loaded(x), tiny_checkpoint.net(x)) <= 1e-4


def test_onnx_round_trip_with_onnxruntime(exported, tiny_checkpoint):
    onnxruntime = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    assert (exported / "model.onnx").is_file()
    model = onnx.load(str(exported / "model.onnx"))
    assert max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx")) >= 17
    session = onnxruntime.InferenceSession(str(exported / "model.onnx"), providers=["CPUExecutionProvider"])
    for batch in (1, 3):  # the batch axis is dynamic
        x = _input(batch)
        with torch.no_grad():
            assert _relative(session.run(None, {"clips": x.numpy()})[0], tiny_checkpoint.net(x)) <= 1e-4


def test_torch_export_round_trip(exported, tiny_checkpoint):
    program = torch.export.load(str(exported / "model.pt2")).module()
    x = _input(3)
    with torch.no_grad():
        assert _relative(program(x), tiny_checkpoint.net(x)) <= 1e-4


def test_features(tiny_checkpoint, video_folder, tmp_path):
    out = tmp_path / "features.npz"
    assert main(["features", str(video_folder), "-c", str(tiny_checkpoint.path), "--clips", "2", "--crops", "1",
                 "--out", str(out)]) == 0
    saved = np.load(out)
    names = [p.rsplit("/", 1)[-1] for p in saved["paths"]]
    assert names == ["broken.mp4", "clip0.mp4", "clip1.mp4", "clip2.mp4"]
    assert saved["ok"].tolist() == [False, True, True, True] and saved["errors"][0]
    assert np.isnan(saved["features"][0]).all() and int(saved["views_per_video"]) == 2
    p = tiny_checkpoint.preprocessing
    net = tiny_checkpoint.net
    for i in (1, 2, 3):
        item = EvalVideoDataset([(str(saved["paths"][i]), 0)], "", clip=ClipSpec(
            num_frames=4, sampling_rate=2, test_clips=2, test_crops=1, test_short_side=32, test_crop_size=32))[0]
        clips = (item["video"].float() / 255 - torch.tensor(p.mean).view(1, 3, 1, 1, 1)) / torch.tensor(p.std).view(
            1, 3, 1, 1, 1)
        with torch.no_grad():
            pooled = net.forward_features(clips).mean(dim=(2, 3, 4))  # (V, F): global average pool
        expected = pooled.mean(0).numpy()
        assert saved["features"][i].shape == (net.num_features,)
        assert _relative(saved["features"][i], expected) < 1e-5
