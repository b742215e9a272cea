"""CoordinateAttention3d against an explicit per-axis computation of SPEC §5."""

import pytest
import torch

from a2video.layers import CoordinateAttention3d
from norm_helpers import randomise_norms


def _norm(bn, e: torch.Tensor, shape) -> torch.Tensor:
    """BatchNorm in eval mode, written out; ``shape`` broadcasts the per-channel statistics."""
    mean, var, w, b = (t.reshape(shape) for t in (bn.running_mean, bn.running_var, bn.weight, bn.bias))
    return (e - mean) / torch.sqrt(var + bn.eps) * w + b


def _reference(block: CoordinateAttention3d, x: torch.Tensor) -> torch.Tensor:
    N, c, D, H, W = x.shape
    mid = block.mid
    # Each axis' descriptor, by explicit sums over the other two axes.
    z_t = torch.stack([x[:, :, t].sum((2, 3)) / (H * W) for t in range(D)], dim=2)
    z_h = torch.stack([x[:, :, :, y].sum((2, 3)) / (D * W) for y in range(H)], dim=2)
    z_w = torch.stack([x[:, :, :, :, i].sum((2, 3)) / (D * H) for i in range(W)], dim=2)
    gates = []
    for z, conv in ((z_t, block.gate_t), (z_h, block.gate_h), (z_w, block.gate_w)):
        f = torch.einsum("kc,ncs->nks", block.reduce.weight[:, :, 0], z)
        f = _norm(block.reduce_norm, f, (1, mid, 1))
        f = f * torch.clamp(f + 3, 0, 6) / 6  # h-swish
        logits = torch.einsum("ck,nks->ncs", conv.weight[:, :, 0], f) + conv.bias[None, :, None]
        gates.append(1 / (1 + torch.exp(-logits)))
    a_t, a_h, a_w = gates
    gated = torch.einsum("nctyx,nct,ncy,ncx->nctyx", x, a_t, a_h, a_w)
    return x + _norm(block.norm, gated, (1, c, 1, 1, 1))


def _randomise_norms(block: CoordinateAttention3d) -> CoordinateAttention3d:
    randomise_norms(block.norm, block.reduce_norm)
    return block.eval()


@pytest.mark.parametrize("shape", [(2, 12, 2, 3, 4), (1, 12, 1, 1, 1), (2, 12, 5, 1, 2)])
def test_matches_reference(shape):
    torch.manual_seed(0)
    block = _randomise_norms(CoordinateAttention3d(12, min_mid=5)).double()
    x = torch.randn(shape, dtype=torch.float64)
    with torch.no_grad():
        out = block(x)
        torch.testing.assert_close(out, _reference(block, x), rtol=1e-12, atol=1e-12)
    assert out.shape == x.shape


def test_mid_width():
    assert CoordinateAttention3d(1024).mid == 32  # c / 32
    assert CoordinateAttention3d(64).mid == 8  # the paper's floor


def test_gates_follow_their_axis():
    """A change confined to one frame moves a_t at that frame only (eval mode: nothing mixes
    positions along t after pooling), while a_h and a_w, which average over time, move everywhere."""
    torch.manual_seed(1)
    block = CoordinateAttention3d(8, min_mid=4).eval()
    x = torch.randn(1, 8, 4, 3, 5)
    x2 = x.clone()
    x2[0, :, 2] += 2.0
    before, after = block.gates(x), block.gates(x2)
    assert [g.shape[2] for g in before] == [4, 3, 5]
    dt, dh, dw = ((a - b).abs().amax(1)[0] for a, b in zip(after, before))
    assert dt[2] > 1e-3 and torch.all(dt[[0, 1, 3]] == 0)
    assert torch.all(dh > 0) and torch.all(dw > 0)
