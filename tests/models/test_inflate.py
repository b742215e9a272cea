"""ImageNet inflation: the I3D boring-video property, file loading and its errors."""

import pytest
import torch
import torchvision

from a2video.errors import WeightsError
from a2video.models import create_model
from a2video.models.inflate import inflate_pretrained, inflate_state_dict, load_2d_state_dict


@pytest.fixture(scope="module")
def resnet2d():
    torch.manual_seed(0)
    net = torchvision.models.resnet50().eval()
    # Non-trivial BatchNorm statistics, so copying them (or not) shows in the activations.
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net


def _stages_2d(net, frame):
    x = net.maxpool(net.relu(net.bn1(net.conv1(frame))))
    out = {}
    for i, stage in enumerate(["res2", "res3", "res4", "res5"], start=1):
        x = getattr(net, f"layer{i}")(x)
        out[stage] = x
    return out


def test_boring_video_gives_2d_activations(resnet2d):
    model = create_model("a2net_r50", num_classes=10).eval()
    report = inflate_state_dict(model, resnet2d.state_dict())
    assert set(report.unused) == {"fc.weight", "fc.bias"}
    assert report.inflated["conv1.weight"] == 5 and report.inflated["layer1.0.conv1.weight"] == 3
    frames = 40  # long enough that the middle frames are out of reach of the zero padding in time
    frame = torch.randn(1, 3, 64, 64)
    clip = frame.unsqueeze(2).expand(1, 3, frames, 64, 64).contiguous()
    with torch.no_grad():
        got = model.stage_outputs(clip)
        want = _stages_2d(resnet2d, frame)
    for stage, ref in want.items():
        middle = got[stage][:, :, got[stage].shape[2] // 2]
        rel = ((middle - ref).norm() / ref.norm()).item()
        assert rel < 1e-4, (stage, rel)
    # ... and the clip ends do differ, so the check above is about the middle, not trivially true.
    first = got["res5"][:, :, 0]
    assert ((first - want["res5"]).norm() / want["res5"].norm()) > 1e-2


def test_inflated_kernel_is_repeated_and_divided(resnet2d):
    model = create_model("i3d_r50")
    inflate_state_dict(model, resnet2d.state_dict())
    w3, w2 = model.conv1.weight, resnet2d.conv1.weight
    torch.testing.assert_close(w3.sum(2), w2)
    torch.testing.assert_close(w3[:, :, 2], w2 / 5)
    torch.testing.assert_close(model.layer3[2].bn2.running_var, resnet2d.layer3[2].bn2.running_var)


def test_inflate_from_file_with_wrapping(tmp_path, resnet2d):
    path = tmp_path / "resnet50.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in resnet2d.state_dict().items()}}, path)
    model = create_model("a2net_r50", num_classes=101, pretrained=str(path))
    torch.testing.assert_close(model.layer4[2].conv3.weight[:, :, 0], resnet2d.layer4[2].conv3.weight)
    assert model.layer2[1].attention.norm.weight.abs().sum() == 0  # blocks left at identity
    assert model.fc.out_features == 101


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(WeightsError, match="not found: .*nope.pth"):
        create_model("a2net_r50", base_width=4, pretrained=str(tmp_path / "nope.pth"))


def test_not_a_state_dict(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_text("this is not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read pretrained weights"):
        load_2d_state_dict(path)


def test_width_mismatch_is_explained(tmp_path, resnet2d):
    model = create_model("i3d_r50", base_width=8)
    with pytest.raises(WeightsError, match="base_width=64"):
        inflate_state_dict(model, resnet2d.state_dict())


def test_no_network_says_how_to_supply_weights(monkeypatch, tmp_path):
    import torchvision.models._api as api

    def offline(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(api, "load_state_dict_from_url", offline)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(WeightsError) as info:
        inflate_pretrained(create_model("i3d_r50", base_width=4), "imagenet")
    message = str(info.value)
    assert "https://download.pytorch.org/models/resnet50" in message and "pretrained=/path/to/" in message
    assert "\n" not in message


def test_r26_has_no_imagenet_counterpart():
    with pytest.raises(WeightsError, match="pretrained=null"):
        create_model("a2net_r26", base_width=4, pretrained="imagenet")
