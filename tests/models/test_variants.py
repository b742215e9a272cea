"""The other attention designs in the I3D-R50 backbone: placement and function-preserving insertion."""

import pytest
import torch

from a2video.layers import (
    AttentionAugmentedConv3d,
    CoordinateAttention3d,
    LargeKernelAttention3d,
    SqueezeExcitation3d,
)
from a2video.models import create_model, list_models

FIVE_PLACES = ["layer2.1", "layer2.3", "layer3.1", "layer3.3", "layer3.5"]
EVERY_UNIT = [f"layer{k}.{i}" for k, units in zip(range(1, 5), (3, 4, 6, 3)) for i in range(units)]


@pytest.mark.parametrize(
    "name, block, units",
    [
        ("se_r50", SqueezeExcitation3d, EVERY_UNIT),
        ("coord_r50", CoordinateAttention3d, EVERY_UNIT),
        ("lka_r50", LargeKernelAttention3d, FIVE_PLACES),
        ("aa_r50", AttentionAugmentedConv3d, FIVE_PLACES),
    ],
)
def test_placement(name, block, units):
    assert name in list_models()
    model = create_model(name, num_classes=5, base_width=4)
    found = {n.removesuffix(".attention"): type(m) for n, m in model.named_modules() if n.endswith(".attention")}
    assert sorted(found) == sorted(units)
    assert set(found.values()) == {block}
    custom = create_model(name, base_width=4, attention_placement={"res5": [1]})
    assert [n for n, _ in custom.named_modules() if n.endswith(".attention")] == ["layer4.1.attention"]


@pytest.mark.parametrize("name", ["se_r50", "coord_r50", "lka_r50", "aa_r50"])
def test_blocks_keep_a_trained_backbone_function(name):
    """Inserting freshly built blocks into a backbone with trained-looking weights changes nothing."""
    torch.manual_seed(0)
    backbone = create_model("i3d_r50", num_classes=5, base_width=4).eval()
    with torch.no_grad():
        for module in backbone.modules():
            if isinstance(module, torch.nn.BatchNorm3d):
                module.running_mean.normal_()
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_()
    model = create_model(name, num_classes=5, base_width=4).eval()
    missing, unexpected = model.load_state_dict(backbone.state_dict(), strict=False)
    assert not unexpected and missing and all(".attention." in key for key in missing)
    x = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), backbone(x))


def test_aa_r50_full_size_widths():
    model = create_model("aa_r50")
    res3, res4 = model.layer2[1].attention, model.layer3[1].attention
    assert (res3.dk, res3.dv, res3.num_heads) == (104, 48, 8)
    assert (res4.dk, res4.dv, res4.num_heads) == (208, 104, 8)
