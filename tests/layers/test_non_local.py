"""NonLocal3d against an explicit pairwise computation."""

import pytest
import torch

from a2video.layers import NonLocal3d
from norm_helpers import randomise_norms


def _reference(block: NonLocal3d, x: torch.Tensor) -> torch.Tensor:
    N, c, D, H, W = x.shape
    L = D * H * W
    X = x.reshape(N, c, L)
    src = torch.nn.functional.max_pool3d(x, (1, 2, 2)) if block.subsample else x
    S = src.reshape(N, c, -1)
    theta = torch.einsum("kc,ncl->nkl", block.theta.weight.flatten(1), X) + block.theta.bias[None, :, None]
    phi = torch.einsum("kc,ncl->nkl", block.phi.weight.flatten(1), S)
    g = torch.einsum("kc,ncl->nkl", block.g.weight.flatten(1), S)
    out = torch.empty(N, block.inner_channels, L, dtype=x.dtype)
    for i in range(L):  # one query position at a time, the plain definition
        logits = torch.einsum("nk,nkj->nj", theta[:, :, i], phi)
        if block.scale:
            logits = logits / block.inner_channels**0.5
        weights = torch.exp(logits - logits.amax(1, keepdim=True))
        weights = weights / weights.sum(1, keepdim=True)
        out[:, :, i] = torch.einsum("nj,nkj->nk", weights, g)
    E = torch.einsum("ck,nkl->ncl", block.proj.weight.flatten(1), out)
    bn = block.norm
    E = (E - bn.running_mean[None, :, None]) / torch.sqrt(bn.running_var[None, :, None] + bn.eps)
    E = E * bn.weight[None, :, None] + bn.bias[None, :, None]
    return (X + E).reshape(x.shape)


@pytest.mark.parametrize("subsample", [False, True])
def test_matches_pairwise_reference(subsample):
    torch.manual_seed(0)
    block = NonLocal3d(8, subsample=subsample).double().eval()
    randomise_norms(block.norm)
    x = torch.randn(2, 8, 2, 4, 6, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(block(x), _reference(block, x), rtol=1e-10, atol=1e-10)


def test_identity_at_init_and_inner_width():
    block = NonLocal3d(16)
    assert block.inner_channels == 8
    x = torch.randn(1, 16, 3, 4, 4)
    assert torch.equal(block(x), x)


def test_gradients_reach_every_parameter():
    block = NonLocal3d(8, subsample=True)
    torch.nn.init.ones_(block.norm.weight)
    block(torch.randn(2, 8, 2, 4, 4)).square().sum().backward()
    for name, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
