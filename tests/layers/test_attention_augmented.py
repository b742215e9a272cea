"""AttentionAugmentedConv3d against a position-by-position computation of SPEC §5."""

import pytest
import torch

from a2video.layers import AttentionAugmentedConv3d
from a2video.layers.attention_augmented import attention_widths
from norm_helpers import randomise_norms


def _conv_reference(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """'Same' zero-padded convolution, one output position at a time."""
    N, c, D, H, W = x.shape
    pt, ph, pw = (k // 2 for k in weight.shape[2:])
    kt, kh, kw = weight.shape[2:]
    padded = torch.nn.functional.pad(x, (pw, pw, ph, ph, pt, pt))
    out = torch.empty(N, weight.shape[0], D, H, W, dtype=x.dtype)
    for t in range(D):
        for y in range(H):
            for i in range(W):
                patch = padded[:, :, t:t + kt, y:y + kh, i:i + kw]
                out[:, :, t, y, i] = torch.einsum("ocabe,ncabe->no", weight, patch)
    return out


def _reference(block: AttentionAugmentedConv3d, x: torch.Tensor) -> torch.Tensor:
    N, c, D, H, W = x.shape
    dk, dv, dkh, dvh = block.dk, block.dv, block.dkh, block.dvh
    Mt, Mh, Mw = block.max_extent
    coords = [(t, y, i) for t in range(D) for y in range(H) for i in range(W)]
    qkv = torch.einsum("oc,ncl->nol", block.qkv.weight.flatten(1), x.reshape(N, c, -1))
    q, k, v = qkv[:, :dk], qkv[:, dk:2 * dk], qkv[:, 2 * dk:]
    attended = torch.empty(N, dv, len(coords), dtype=x.dtype)
    for head in range(block.num_heads):
        qh = q[:, head * dkh:(head + 1) * dkh] / dkh**0.5
        kh = k[:, head * dkh:(head + 1) * dkh]
        vh = v[:, head * dvh:(head + 1) * dvh]
        for i, (ti, yi, xi) in enumerate(coords):
            logits = torch.empty(N, len(coords), dtype=x.dtype)
            for j, (tj, yj, xj) in enumerate(coords):
                r = block.rel_t[tj - ti + Mt - 1] + block.rel_h[yj - yi + Mh - 1] + block.rel_w[xj - xi + Mw - 1]
                logits[:, j] = (qh[:, :, i] * (kh[:, :, j] + r)).sum(1)
            weights = torch.exp(logits - logits.max(1, keepdim=True).values)
            weights = weights / weights.sum(1, keepdim=True)
            attended[:, head * dvh:(head + 1) * dvh, i] = torch.einsum("nj,nej->ne", weights, vh)
    attended = torch.einsum("oe,nel->nol", block.out.weight.flatten(1), attended).reshape(N, dv, D, H, W)
    branch = torch.cat([_conv_reference(x, block.conv.weight), attended], dim=1)
    bn = block.norm
    mean, var, w, b = (t.reshape(1, c, 1, 1, 1) for t in (bn.running_mean, bn.running_var, bn.weight, bn.bias))
    return x + (branch - mean) / torch.sqrt(var + bn.eps) * w + b


def _activated(block: AttentionAugmentedConv3d) -> AttentionAugmentedConv3d:
    """Random relative tables and norm statistics, so neither term of the output is trivially zero."""
    with torch.no_grad():
        for t in (block.rel_t, block.rel_h, block.rel_w):
            t.normal_()
    randomise_norms(block.norm)
    return block.eval()


@pytest.mark.parametrize("shape", [(2, 20, 2, 3, 2), (1, 20, 1, 1, 1), (1, 20, 3, 1, 4)])
def test_matches_reference(shape):
    torch.manual_seed(0)
    block = _activated(AttentionAugmentedConv3d(20, max_extent=(3, 4, 5))).double()
    assert (block.dk, block.dv, block.num_heads) == (4, 2, 2)
    x = torch.randn(shape, dtype=torch.float64)
    with torch.no_grad():
        out = block(x)
        torch.testing.assert_close(out, _reference(block, x), rtol=1e-10, atol=1e-10)
    assert out.shape == x.shape


def test_attention_rows_are_distributions_and_positions_matter():
    torch.manual_seed(1)
    block = _activated(AttentionAugmentedConv3d(20, max_extent=(2, 3, 3)))
    x = torch.randn(1, 20, 2, 3, 3)
    with torch.no_grad():
        weights, _ = block.attention_weights(x)
        torch.testing.assert_close(weights.sum(3), torch.ones(1, block.num_heads, 18))
        block.relative = False
        content_only, _ = block.attention_weights(x)
    assert (weights - content_only).abs().max() > 1e-3


@pytest.mark.parametrize(
    "channels, widths",
    [(512, (104, 48, 8)), (1024, (208, 104, 8)), (32, (6, 3, 3)), (8, (2, 1, 1)), (2, (1, 1, 1))],
)
def test_widths_round_to_heads_and_degrade(channels, widths):
    dk, dv, heads = attention_widths(channels, 0.2, 0.1, 8)
    assert (dk, dv, heads) == widths
    assert dk % heads == 0 and dv % heads == 0


def test_invalid_widths():
    with pytest.raises(ValueError, match="no room"):
        AttentionAugmentedConv3d(1)
    with pytest.raises(ValueError, match="value_fraction"):
        AttentionAugmentedConv3d(64, value_fraction=1.0)
    with pytest.raises(ValueError, match="num_heads"):
        AttentionAugmentedConv3d(64, num_heads=0)
    with pytest.raises(ValueError, match="odd"):
        AttentionAugmentedConv3d(64, kernel_size=(1, 2, 2))


def test_relative_tables_are_parameters_that_train():
    torch.manual_seed(2)
    block = AttentionAugmentedConv3d(16, max_extent=(4, 5, 6))
    torch.nn.init.ones_(block.norm.weight)  # otherwise nothing upstream of the zero-γ norm gets gradient
    tables = {"rel_t": block.rel_t, "rel_h": block.rel_h, "rel_w": block.rel_w}
    names = dict(block.named_parameters())
    for name, table in tables.items():
        assert names[name] is table and name in block.state_dict()
    assert [t.shape for t in tables.values()] == [(7, block.dkh), (9, block.dkh), (11, block.dkh)]
    before = {name: t.detach().clone() for name, t in tables.items()}
    optimizer = torch.optim.SGD(block.parameters(), lr=0.1)
    block(torch.randn(2, 16, 3, 4, 5)).square().mean().backward()
    optimizer.step()
    for name, table in tables.items():
        assert getattr(block, name) is table  # forward did not replace it
        assert not torch.equal(table.detach(), before[name]), name


def test_input_beyond_max_extent_is_a_clear_error():
    block = AttentionAugmentedConv3d(16, max_extent=(2, 4, 4)).eval()
    assert block(torch.randn(1, 16, 2, 4, 4)).shape == (1, 16, 2, 4, 4)  # the bound itself is fine
    with pytest.raises(ValueError, match=r"\(2, 5, 4\) exceeds .*max_extent \(2, 4, 4\)"):
        block(torch.randn(1, 16, 2, 5, 4))
    # Without relative tables there is no bound.
    unbounded = AttentionAugmentedConv3d(16, max_extent=(2, 4, 4), relative=False).eval()
    assert unbounded(torch.randn(1, 16, 3, 5, 4)).shape == (1, 16, 3, 5, 4)
    assert not any(name.startswith("rel_") for name, _ in unbounded.named_parameters())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_large_logits_stay_finite(dtype):
    torch.manual_seed(3)
    block = _activated(AttentionAugmentedConv3d(16, max_extent=(2, 4, 4)))
    x = torch.randn(2, 16, 2, 4, 4) * 100  # logits far beyond fp16's exp() range
    with torch.autocast("cpu", dtype=dtype):
        out = block(x)
    assert torch.isfinite(out).all()
    with torch.no_grad():
        ref = block(x)
    assert ((out.float() - ref).norm() / (ref - x).norm()).item() < 5e-2
