"""DoubleAttention3d on fp16/bf16 tensors without autocast, and the softmax it relies on.

Under CPU autocast the block runs in float32 anyway (``test_double_attention.py``); here the block
and its input are fp16/bf16 themselves, with attention logits in the hundreds, where exp() of an
fp16 logit overflows past 11 and of a float32 one past 88.
"""

from __future__ import annotations

import pytest
import torch

from a2video.layers import DoubleAttention3d
from a2video.layers.double_attention import stable_softmax

HALF_TYPES = [torch.float16, torch.bfloat16]


def _active_block(seed: int) -> DoubleAttention3d:
    """A block whose closing BatchNorm is not zero, so its output depends on the attention."""
    torch.manual_seed(seed)
    block = DoubleAttention3d(16, m=4, n=4).eval()
    with torch.no_grad():
        block.norm.weight.uniform_(0.5, 1.5)
        block.norm.bias.normal_()
    return block


@pytest.mark.parametrize("dtype", HALF_TYPES)
def test_half_block_with_huge_logits_matches_float64(dtype):
    block = _active_block(seed=7).to(dtype)
    x = (torch.randn(2, 16, 2, 6, 6) * 300).to(dtype)  # (N, c, d, h, w)
    with torch.no_grad():
        logits = block.theta(x).float()
        assert logits.abs().max() > 300 and torch.isfinite(logits).all(), "far past exp()'s range, within fp16's"
        out = block(x)
        reference = block.double()(x.double())
    assert out.dtype == dtype and torch.isfinite(out).all()
    rel = ((out.double() - reference).norm() / (reference - x.double()).norm()).item()
    assert rel < 2e-2


@pytest.mark.parametrize("dtype", HALF_TYPES)
@pytest.mark.parametrize("dim", [0, 1])
def test_half_logits_are_normalised_in_float32(dtype, dim):
    g = torch.Generator().manual_seed(0)
    # 4 x 3000 logits: large (exp overflows without the max shift) and spread, so many weights are
    # below fp16's smallest normal number (6e-5) and need float32 to keep their digits.
    logits = (torch.randn(4, 3000, generator=g) * 400).to(dtype)
    logits = logits if dim == 1 else logits.T.contiguous()
    weights = stable_softmax(logits, dim=dim)
    assert weights.dtype == torch.float32
    reference = torch.softmax(logits.double(), dim=dim)
    torch.testing.assert_close(weights.double(), reference, rtol=1e-5, atol=1e-30)
    torch.testing.assert_close(weights.sum(dim).double(), torch.ones(4, dtype=torch.float64), rtol=1e-5, atol=0)


def test_float32_and_float64_logits_keep_their_type():
    logits = torch.randn(3, 50, dtype=torch.float64) * 100
    assert stable_softmax(logits, dim=1).dtype == torch.float64
    torch.testing.assert_close(stable_softmax(logits, dim=1), torch.softmax(logits, dim=1), rtol=0, atol=0)
    assert stable_softmax(logits.float(), dim=1).dtype == torch.float32
