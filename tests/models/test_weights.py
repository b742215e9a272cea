"""The one weight reader: 2D ImageNet files and downloads (inflated), 3D checkpoints, their reports
and their errors."""

import pytest
import torch
import torchvision

from a2video.errors import WeightsError
from a2video.models import create_model
from a2video.models.weights import load_initial_weights, load_weights


@pytest.fixture(scope="module")
def resnet2d():
    torch.manual_seed(0)
    return torchvision.models.resnet50().eval()


def _tiny(name="a2net_r26", classes=4, width=4):
    return create_model(name, num_classes=classes, base_width=width)


def _save_lightning(model, path):
    """Saved the way an a2video run saves it (LightningModule prefix, Lightning's version key)."""
    torch.save({"state_dict": {f"net.{k}": v for k, v in model.state_dict().items()}, "epoch": 3,
                "pytorch-lightning_version": "2.6.0"}, path)


# ------------------------------------------------------------ 2D ImageNet
def test_inflate_from_file_with_wrapping(tmp_path, resnet2d):
    path = tmp_path / "resnet50.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in resnet2d.state_dict().items()}}, path)
    model = create_model("a2net_r50", num_classes=101)
    report = load_weights(model, path)
    torch.testing.assert_close(model.layer4[2].conv3.weight[:, :, 0], resnet2d.layer4[2].conv3.weight)
    assert model.layer2[1].attention.norm.weight.abs().sum() == 0  # blocks left at identity
    assert model.fc.out_features == 101
    assert "inflated" in report.format
    assert set(report.left_out) == {"fc.weight", "fc.bias"}
    assert set(report.new) == model.attention_state_names() | {"fc.weight", "fc.bias"}
    assert report.inflated["conv1.weight"] == 5
    assert len(report.loaded) + len(report.new) == len(model.state_dict())


def test_create_model_pretrained_goes_through_the_reader(tmp_path, resnet2d):
    path = tmp_path / "resnet50.pth"
    torch.save(resnet2d.state_dict(), path)
    model = create_model("i3d_r50", num_classes=10, pretrained=str(path))
    torch.testing.assert_close(model.conv1.weight.sum(2), resnet2d.conv1.weight)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(WeightsError, match="pretrained: weights file not found: .*nope.pth"):
        create_model("a2net_r50", base_width=4, pretrained=str(tmp_path / "nope.pth"))


@pytest.mark.parametrize("content", [b"this is not a checkpoint", b"PK\x03\x04 truncated zip"])
def test_not_a_torch_file(tmp_path, content):
    path = tmp_path / "junk.pth"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=f"cannot read weights file {path}|{path} is not a weights file"):
        load_weights(_tiny(), path)


def test_truncated_checkpoint_names_the_file(tmp_path):
    path = tmp_path / "cut.ckpt"
    _save_lightning(_tiny(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match=f"cannot read weights file {path}|{path} is not a weights file"):
        load_weights(_tiny(), path)


def test_no_network_says_how_to_supply_weights(monkeypatch, tmp_path):
    import torchvision.models._api as api

    def offline(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(api, "load_state_dict_from_url", offline)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(WeightsError) as info:
        load_weights(create_model("i3d_r50", base_width=4), "imagenet")
    message = str(info.value)
    assert "https://download.pytorch.org/models/resnet50" in message and "pretrained=/path/to/" in message
    assert "\n" not in message


def test_r26_has_no_imagenet_counterpart(tmp_path, resnet2d):
    with pytest.raises(WeightsError, match="pretrained=null"):
        create_model("a2net_r26", base_width=4, pretrained="imagenet")
    path = tmp_path / "resnet50.pth"
    torch.save(resnet2d.state_dict(), path)
    with pytest.raises(WeightsError, match="no 2D ImageNet counterpart"):
        load_weights(_tiny(), path)


# ------------------------------------------------------------ 3D checkpoints
def test_new_classifier_when_classes_differ(tmp_path):
    source = _tiny(classes=10)
    torch.nn.init.normal_(source.layer3[1].attention.norm.weight)
    path = tmp_path / "kinetics.ckpt"
    _save_lightning(source, path)
    target = _tiny(classes=4)
    fresh_head = target.fc.weight.clone()
    report = load_weights(target, path)
    assert report.format == "a2video checkpoint"
    assert set(report.new) == {"fc.weight", "fc.bias"} and set(report.left_out) == {"fc.weight", "fc.bias"}
    assert torch.equal(target.layer3[1].attention.norm.weight, source.layer3[1].attention.norm.weight)
    assert torch.equal(target.fc.weight, fresh_head)


def test_same_size_classifier_is_loaded_unless_replaced(tmp_path):
    source = _tiny(classes=4)
    path = tmp_path / "same.pth"
    torch.save(source.state_dict(), path)
    kept = _tiny(classes=4)
    load_weights(kept, path)
    assert torch.equal(kept.fc.weight, source.fc.weight)
    replaced = _tiny(classes=4)
    fresh = replaced.fc.weight.clone()
    report = load_weights(replaced, path, replace_classifier=True)
    assert torch.equal(replaced.fc.weight, fresh) and "fc.weight" in report.new


def test_i3d_checkpoint_into_a2net_leaves_blocks_at_identity(tmp_path):
    path = tmp_path / "i3d.pth"
    source = _tiny("i3d_r26")
    torch.save({f"module.{k}": v for k, v in source.state_dict().items()}, path)
    target = _tiny("a2net_r26")
    report = load_weights(target, path)
    assert set(report.new) == target.attention_state_names() and report.new
    assert not report.left_out
    assert torch.equal(target.layer4[1].conv2.weight, source.layer4[1].conv2.weight)
    assert target.layer3[1].attention.norm.weight.abs().sum() == 0


def test_mismatches_name_the_tensors(tmp_path):
    path = tmp_path / "wide.pth"
    torch.save(_tiny(width=8).state_dict(), path)
    with pytest.raises(WeightsError, match=r"does not fit .*shape mismatch \(\d+\): conv1.weight"):
        load_weights(_tiny(), path)
    path = tmp_path / "a2net.pth"
    torch.save(_tiny("a2net_r26").state_dict(), path)  # blocks the I3D model does not have
    with pytest.raises(WeightsError, match=r"not in the model \(\d+\): layer2.1.attention"):
        load_weights(_tiny("i3d_r26"), path)
    state = _tiny("i3d_r26").state_dict()
    del state["layer1.0.conv1.weight"]
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"missing \(1\): layer1.0.conv1.weight"):
        load_weights(_tiny("i3d_r26"), path)


def test_load_initial_weights_names_the_option(tmp_path):
    with pytest.raises(WeightsError, match="^init_from: weights file not found"):
        load_initial_weights(_tiny(), init_from=str(tmp_path / "missing.ckpt"))
