"""Parameter and MAC counting against the SPEC reference numbers and hand arithmetic."""

import pytest
import torch

from a2video.layers import DoubleAttention3d
from a2video.models import create_model
from a2video.models.cost import measure_cost


def _a2_macs(c: int, m: int, n: int, length: int) -> int:
    """φ, θ, ρ convolutions + gather + distribute matmuls + m→c expansion (SPEC §1, left form)."""
    return c * (m + 2 * n) * length + 2 * m * n * length + m * c * length


def test_single_block_macs_by_hand():
    block = DoubleAttention3d(64, m=16, n=8, association="left")
    cost = measure_cost(block, (1, 64, 4, 7, 7))
    assert cost.macs == _a2_macs(64, 16, 8, 4 * 7 * 7)


def test_right_association_costs_pairwise():
    block = DoubleAttention3d(64, m=16, n=8, association="right")
    length = 2 * 3 * 3
    convs = 64 * (16 + 16) * length + 16 * 64 * length
    assert measure_cost(block, (1, 64, 2, 3, 3)).macs == convs + (8 + 16) * length * length


def test_reference_models_at_224():
    i3d = measure_cost(create_model("i3d_r50"), (1, 3, 8, 224, 224))
    a2 = measure_cost(create_model("a2net_r50"), (1, 3, 8, 224, 224))
    assert i3d.gmacs == pytest.approx(28.4, abs=0.05)  # SPEC §2, pytorchvideo i3d_r50
    expected_blocks = 2 * _a2_macs(512, 128, 128, 4 * 28 * 28) + 3 * _a2_macs(1024, 256, 256, 4 * 14 * 14)
    assert a2.attention_macs == expected_blocks
    assert a2.macs - i3d.macs == expected_blocks
    assert a2.params - i3d.params == sum(
        p.numel() for n, p in create_model("a2net_r50").named_parameters() if ".attention." in n
    )


def test_caller_model_is_untouched():
    model = create_model("a2net_r26", base_width=4)
    before = model.conv1.weight.clone()
    measure_cost(model, (1, 3, 8, 32, 32))
    assert model.conv1.weight.device.type == "cpu"
    assert torch.equal(model.conv1.weight, before)
