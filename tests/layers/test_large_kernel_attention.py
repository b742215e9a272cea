"""LargeKernelAttention3d against depth-wise convolutions written as sums of shifted inputs."""

import pytest
import torch

from a2video.layers import LargeKernelAttention3d
from norm_helpers import randomise_norms


def _depthwise(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, dilation) -> torch.Tensor:
    """Zero-padded 'same' depth-wise convolution: one shifted copy of the input per kernel tap."""
    N, c, D, H, W = x.shape
    kt, kh, kw = weight.shape[2:]
    pad = [d * (k // 2) for k, d in zip((kt, kh, kw), dilation)]
    padded = torch.zeros(N, c, D + 2 * pad[0], H + 2 * pad[1], W + 2 * pad[2], dtype=x.dtype)
    padded[:, :, pad[0]:pad[0] + D, pad[1]:pad[1] + H, pad[2]:pad[2] + W] = x
    out = bias.reshape(1, c, 1, 1, 1).expand(N, c, D, H, W).clone()
    for a in range(kt):
        for b in range(kh):
            for e in range(kw):
                t0, y0, x0 = a * dilation[0], b * dilation[1], e * dilation[2]
                tap = weight[:, 0, a, b, e].reshape(1, c, 1, 1, 1)
                out += tap * padded[:, :, t0:t0 + D, y0:y0 + H, x0:x0 + W]
    return out


def _reference(block: LargeKernelAttention3d, x: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    local = _depthwise(x, block.local.weight, block.local.bias, (1, 1, 1))
    dilated = _depthwise(local, block.dilated.weight, block.dilated.bias, block.dilated.dilation)
    attention = torch.einsum("kc,nctyx->nktyx", block.mix.weight.flatten(1), dilated)
    attention = attention + block.mix.bias.reshape(1, c, 1, 1, 1)
    bn = block.norm
    mean, var, w, b = (t.reshape(1, c, 1, 1, 1) for t in (bn.running_mean, bn.running_var, bn.weight, bn.bias))
    return x + (attention * x - mean) / torch.sqrt(var + bn.eps) * w + b


@pytest.mark.parametrize("shape", [(2, 4, 3, 8, 11), (1, 4, 1, 1, 1), (1, 4, 5, 2, 13)])
def test_matches_reference(shape):
    torch.manual_seed(0)
    block = LargeKernelAttention3d(4).double().eval()
    randomise_norms(block.norm)
    x = torch.randn(shape, dtype=torch.float64)
    with torch.no_grad():
        out = block(x)
        torch.testing.assert_close(out, _reference(block, x), rtol=1e-12, atol=1e-12)
    assert out.shape == x.shape


def test_reach_is_five_frames_and_nineteen_pixels():
    """(3, 5, 5) then (3, 7, 7) dilated (1, 3, 3): ±2 frames and ±(2 + 9) = ±11 pixels, no further."""
    torch.manual_seed(1)
    block = LargeKernelAttention3d(2).eval()
    x = torch.randn(1, 2, 9, 27, 27)
    x2 = x.clone()
    x2[0, :, 4, 13, 13] += 1.0
    with torch.no_grad():
        changed = (block.attention_map(x2) - block.attention_map(x)).abs().amax(1)[0] > 0  # (D, H, W)
    t, y, w = changed.nonzero().T
    assert (t.min().item(), t.max().item()) == (2, 6)
    assert (y.min().item(), y.max().item()) == (2, 24)
    assert (w.min().item(), w.max().item()) == (2, 24)


def test_rejects_even_kernels():
    with pytest.raises(ValueError, match="odd"):
        LargeKernelAttention3d(8, local_kernel=(2, 5, 5))
    with pytest.raises(ValueError, match="three positive"):
        LargeKernelAttention3d(8, dilation=(1, 3))
