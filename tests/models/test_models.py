"""Every registered model at toy width; the architecture facts of the named variants."""

import pytest
import torch
from torch import nn

from a2video.errors import A2VideoError
from a2video.layers import DoubleAttention3d, NonLocal3d
from a2video.models import ResNet3d, create_model, list_models


def _attention_units(model: nn.Module) -> dict[str, type]:
    return {name: type(m) for name, m in model.named_modules() if name.endswith(".attention")}


@pytest.mark.parametrize("name", list_models())
def test_every_model_forward_and_gradients(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=7, base_width=4, dropout=0.0).train()
    # Blocks start as the identity (zero-γ norms), which would hide missing gradients upstream.
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            nn.init.ones_(module.weight)
    x = torch.randn(2, 3, 8, 32, 32)
    logits = model(x)
    assert logits.shape == (2, 7)
    assert torch.isfinite(logits).all()
    logits.logsumexp(1).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing, f"parameters without gradient: {missing}"


def test_i3d_r50_is_the_reference_architecture():
    model = create_model("i3d_r50", num_classes=400)
    params = sum(p.numel() for p in model.parameters())
    assert abs(params / 1e6 - 28.04) < 0.01  # pytorchvideo i3d_r50: 28.0 M (SPEC §2)
    assert model.conv1.kernel_size == (5, 7, 7) and model.conv1.stride == (1, 2, 2)
    temporal = [[u.conv1.kernel_size[0] for u in getattr(model, f"layer{i}")] for i in range(1, 5)]
    assert temporal == [[3, 3, 3], [3, 1, 3, 1], [3, 1, 3, 1, 3, 1], [1, 3, 1]]
    assert all(u.conv2.kernel_size == (1, 3, 3) for i in range(1, 5) for u in getattr(model, f"layer{i}"))
    assert not _attention_units(model)


def test_a2net_r50_places_five_blocks():
    model = create_model("a2net_r50", num_classes=400)
    units = _attention_units(model)
    assert sorted(units) == ["layer2.1.attention", "layer2.3.attention",
                             "layer3.1.attention", "layer3.3.attention", "layer3.5.attention"]
    assert set(units.values()) == {DoubleAttention3d}
    assert model.layer2[1].attention.m == 128 and model.layer3[5].attention.n == 256


def test_nl_r50_and_custom_placement():
    assert set(_attention_units(create_model("nl_r50", base_width=4)).values()) == {NonLocal3d}
    model = create_model("a2net_r50", base_width=4, attention_placement={"res5": [0, 2]})
    assert sorted(_attention_units(model)) == ["layer4.0.attention", "layer4.2.attention"]


def test_time_is_pooled_once_after_res2():
    model = create_model("i3d_r50", base_width=4).eval()
    with torch.no_grad():
        outputs = model.stage_outputs(torch.randn(1, 3, 8, 64, 64))
    assert [o.shape[2] for o in outputs.values()] == [8, 4, 4, 4]
    assert [o.shape[-1] for o in outputs.values()] == [16, 8, 4, 2]


def test_features_head_and_reset_classifier():
    model = create_model("a2net_r26", num_classes=5, base_width=4).eval()
    x = torch.randn(2, 3, 8, 32, 32)
    features = model.forward_features(x)
    assert features.shape[:2] == (2, model.num_features)
    assert torch.equal(model.forward_head(features), model(x))
    assert model.forward_head(features, pre_logits=True).shape == (2, model.num_features)
    old_fc = model.fc
    model.reset_classifier(11)
    assert model.fc is not old_fc and model(x).shape == (2, 11)
    model.reset_classifier(0)
    assert model(x).shape == (2, model.num_features)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"attention_placement": {"res6": [0]}}, "unknown stage"),
        ({"attention_placement": {"res3": [4]}}, "units 0..3"),
        ({"attention_placement": {"res3": [0]}}, "attention_layer is None"),
        ({"temporal_kernels": ((1,), (1,), (1,), (1,))}, "temporal_kernels"),
    ],
)
def test_bad_resnet_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ResNet3d(base_width=4, **kwargs)


def test_unknown_model_name_lists_choices():
    with pytest.raises(A2VideoError, match="a2net_r50"):
        create_model("a2net_r51")


def test_zero_init_residual_makes_units_start_as_shortcuts():
    model = ResNet3d(base_width=4, zero_init_residual=True)
    assert all(u.bn3.weight.abs().sum() == 0 for i in range(1, 5) for u in getattr(model, f"layer{i}"))
