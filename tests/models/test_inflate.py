"""ImageNet inflation: the I3D boring-video property and shape errors (reading the weights:
test_weights.py)."""

import pytest
import torch
import torchvision

from a2video.errors import WeightsError
from a2video.models import create_model
from a2video.models.inflate import inflate_state_dict


def _new(model):
    return model.attention_state_names() | model.classifier_parameter_names()


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
    report = inflate_state_dict(model, resnet2d.state_dict(), new=_new(model))
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
    inflate_state_dict(model, resnet2d.state_dict(), new=_new(model))
    w3, w2 = model.conv1.weight, resnet2d.conv1.weight
    torch.testing.assert_close(w3.sum(2), w2)
    torch.testing.assert_close(w3[:, :, 2], w2 / 5)
    torch.testing.assert_close(model.layer3[2].bn2.running_var, resnet2d.layer3[2].bn2.running_var)


def test_width_mismatch_is_explained(tmp_path, resnet2d):
    model = create_model("i3d_r50", base_width=8)
    with pytest.raises(WeightsError, match="base_width=64"):
        inflate_state_dict(model, resnet2d.state_dict(), new=_new(model))
