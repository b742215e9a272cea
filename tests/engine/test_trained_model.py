"""What a run leaves for using its model: checkpoints hold the preprocessing and the class names,
``a2video predict`` on the run's checkpoint gives ``a2video test``'s scores, and the weights'
preprocessing (not the data config's ImageNet default) normalises the batches."""

from __future__ import annotations

import csv
from types import SimpleNamespace

import pytest
import torch
import yaml

from a2video.data.clips import ClipSpec
from a2video.data.lists import read_classes, read_list
from a2video.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from a2video.engine.module import VideoClassifier
from a2video.models import create_model
from a2video.models.preprocessing import IMAGENET, KINETICS_SLOWFAST
from engine_helpers import TEST_CLIPS, TEST_CROPS, load_checkpoint, run_ok
from weights_layouts import to_pytorchvideo


def _csv(path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_checkpoint_holds_preprocessing_and_class_names(source_run):
    saved = load_checkpoint(source_run.last)["a2video"]
    data = yaml.safe_load((source_run.dir / "config.yaml").read_text())["data"]
    assert saved["class_names"] == read_classes(source_run.dataset.classes_file)
    p = saved["preprocessing"]
    assert tuple(p["mean"]) == IMAGENET_MEAN and tuple(p["std"]) == IMAGENET_STD and p["value_range"] == 1.0
    assert (p["num_frames"], p["sampling_rate"], p["crop_size"], p["test_short_side"]) == (
        data["num_frames"], data["sampling_rate"], data["crop_size"], data["test_short_side"])


def test_predict_gives_the_test_scores(source_run, tmp_path):
    out = tmp_path / "pred"
    run_ok("predict", source_run.dataset.test_list, "--video-root", source_run.dataset.video_root,
           "-c", source_run.last, "--clips", TEST_CLIPS, "--crops", TEST_CROPS, "--out", out)
    predicted = _csv(out / "predictions.csv")
    tested = _csv(source_run.dir / "test" / "predictions.csv")
    assert len(predicted) == len(tested) == len(read_list(source_run.dataset.test_list))
    for mine, theirs in zip(predicted, tested):
        assert mine["path"].endswith(theirs["path"]) and mine["status"] == "ok"
        assert mine["top1_class"] == theirs["top1_class"]
        assert float(mine["top1_probability"]) == pytest.approx(float(theirs["top1_score"]), abs=2e-5)


def test_init_from_a_kinetics_checkpoint_brings_its_normalisation(tmp_path):
    path = tmp_path / "I3D_8x8_R50.pyth"
    source = create_model("i3d_r26", num_classes=4, base_width=4)
    torch.save({"model_state": {to_pytorchvideo(k): v for k, v in source.state_dict().items()}}, path)
    module = VideoClassifier(model="a2net_r26", base_width=4, num_classes=4, init_from=str(path))
    module.build(4)
    assert module.preprocessing == KINETICS_SLOWFAST
    data = SimpleNamespace(preprocessing=IMAGENET, clip=ClipSpec(num_frames=16, sampling_rate=8))
    module._trainer = SimpleNamespace(datamodule=data)
    with pytest.warns(UserWarning, match=r"num_frames=8 .*data config's data.num_frames=16 wins"):
        module._use_preprocessing()
    assert data.preprocessing == KINETICS_SLOWFAST
    white = torch.full((1, 3, 1, 1, 1), 255, dtype=torch.uint8)
    assert data.preprocessing.normalize(white).flatten().tolist() == pytest.approx([(1 - 0.45) / 0.225] * 3)
