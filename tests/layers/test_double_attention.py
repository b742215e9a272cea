"""DoubleAttention3d against an independent einsum computation of SPEC §1."""

import pytest
import torch

from a2video.layers import DoubleAttention3d, choose_association
from norm_helpers import randomise_norms


def _activate(block: DoubleAttention3d, seed: int = 0) -> DoubleAttention3d:
    """Give the closing BatchNorm non-trivial parameters and statistics so the block is not the identity."""
    randomise_norms(block.norm, seed=seed)
    return block.eval()


def _reference(block: DoubleAttention3d, x: torch.Tensor) -> torch.Tensor:
    """SPEC §1 written out with einsum and explicit exp/sum softmaxes."""
    N, c, D, H, W = x.shape
    X = x.reshape(N, c, D * H * W)
    w_phi = block.phi.weight.flatten(1)
    w_theta = block.theta.weight.flatten(1)
    w_rho = block.rho.weight.flatten(1)
    A = torch.einsum("mc,ncl->nml", w_phi, X)
    B = torch.einsum("kc,ncl->nkl", w_theta, X)
    V = torch.einsum("kc,ncl->nkl", w_rho, X) + block.rho.bias[None, :, None]
    gather = torch.exp(B - B.amax(2, keepdim=True))
    gather = gather / gather.sum(2, keepdim=True)  # over positions
    dist = torch.exp(V - V.amax(1, keepdim=True))
    dist = dist / dist.sum(1, keepdim=True)  # over the n maps
    G = torch.einsum("nml,nkl->nmk", A, gather)  # (N, m, n)
    Z = torch.einsum("nmk,nkl->nml", G, dist)  # (N, m, L)
    E = torch.einsum("cm,nml->ncl", block.proj.weight.flatten(1), Z)
    bn = block.norm
    E = (E - bn.running_mean[None, :, None]) / torch.sqrt(bn.running_var[None, :, None] + bn.eps)
    E = E * bn.weight[None, :, None] + bn.bias[None, :, None]
    return (X + E).reshape(N, c, D, H, W)


@pytest.mark.parametrize("association", ["left", "right", "auto"])
@pytest.mark.parametrize("shape", [(2, 16, 3, 5, 7), (1, 8, 1, 1, 1), (2, 12, 4, 2, 3)])
def test_matches_einsum_reference(association, shape):
    torch.manual_seed(0)
    block = _activate(DoubleAttention3d(shape[1], m=6, n=5, association=association)).double()
    x = torch.randn(shape, dtype=torch.float64)
    with torch.no_grad():
        out = block(x)
        ref = _reference(block, x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)


def test_left_equals_right_in_float64():
    torch.manual_seed(1)
    block = _activate(DoubleAttention3d(32, association="left")).double()
    x = torch.randn(2, 32, 4, 6, 6, dtype=torch.float64) * 3
    with torch.no_grad():
        left = block(x)
        block.association = "right"
        right = block(x)
    assert not torch.equal(left, x)  # the block is active, so equality below is not trivial
    rel = (left - right).norm() / (left - x).norm()
    assert rel < 1e-10


def test_defaults_are_quarter_width():
    block = DoubleAttention3d(64)
    assert (block.m, block.n) == (16, 16)
    assert block.proj.out_channels == 64


@pytest.mark.parametrize("train", [True, False])
def test_identity_at_initialisation(train):
    torch.manual_seed(2)
    block = DoubleAttention3d(16).train(train)
    x = torch.randn(3, 16, 2, 4, 5)
    assert torch.equal(block(x), x)


def test_softmax_axes():
    """Gathering maps sum to 1 over positions; distribution weights sum to 1 over the n maps at each
    position, and changing the input at one position changes only that position's mixing weights."""
    torch.manual_seed(3)
    block = DoubleAttention3d(8, m=4, n=3).eval()
    x = torch.randn(1, 8, 2, 3, 3)
    _, gather, dist = block.attention_maps(x)
    torch.testing.assert_close(gather.sum(2), torch.ones(1, 3))
    torch.testing.assert_close(dist.sum(1), torch.ones(1, 18))
    x2 = x.clone()
    x2[0, :, 1, 2, 0] += 5.0  # position 1*9 + 2*3 + 0 = 15
    _, gather2, dist2 = block.attention_maps(x2)
    changed = (dist2 - dist).abs().amax(1)[0]
    assert changed[15] > 1e-3
    assert torch.all(changed[torch.arange(18) != 15] == 0)
    # The gathering maps are normalised over all positions, so every entry moves.
    assert torch.all((gather2 - gather).abs()[0] > 0)


def test_choose_association_follows_memory_rule():
    assert choose_association(length=784, m=256, n=256) == "left"  # L² > m·n
    assert choose_association(length=4, m=8, n=8) == "right"  # L² = 16 <= 64
    assert choose_association(length=8, m=8, n=8) == "right"  # tie: both hold 64 floats


def test_gradients_reach_every_parameter():
    torch.manual_seed(4)
    block = DoubleAttention3d(8, m=4, n=4)
    torch.nn.init.ones_(block.norm.weight)
    x = torch.randn(2, 8, 2, 3, 3, requires_grad=True)
    block(x).square().sum().backward()
    for name, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert x.grad is not None


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_large_logits_stay_finite(dtype):
    torch.manual_seed(5)
    block = _activate(DoubleAttention3d(16, m=4, n=4)).train()
    # Inputs of this size give logits far above fp16's exp() limit (~11).
    x = torch.randn(2, 16, 2, 4, 4) * 200
    with torch.autocast("cpu", dtype=dtype):
        out = block(x)
    assert torch.isfinite(out).all()
    with torch.no_grad():
        ref = block.float()(x)
    rel = ((out.float() - ref).norm() / ref.norm()).item()
    assert rel < 5e-2


def test_rejects_unknown_association():
    with pytest.raises(ValueError, match="association"):
        DoubleAttention3d(8, association="middle")
