"""SqueezeExcitation3d against an explicit computation of SPEC §5, wrapped as a zero-γ residual."""

import pytest
import torch

from a2video.layers import SqueezeExcitation3d
from norm_helpers import randomise_norms


def _reference(block: SqueezeExcitation3d, x: torch.Tensor) -> torch.Tensor:
    N, c, D, H, W = x.shape
    squeezed = x.reshape(N, c, D * H * W).sum(2) / (D * H * W)
    hidden = torch.clamp(squeezed @ block.fc1.weight.T + block.fc1.bias, min=0)
    s = 1 / (1 + torch.exp(-(hidden @ block.fc2.weight.T + block.fc2.bias)))  # (N, c)
    branch = x * s.reshape(N, c, 1, 1, 1)
    bn = block.norm
    stats = [t.reshape(1, c, 1, 1, 1) for t in (bn.running_mean, bn.running_var, bn.weight, bn.bias)]
    return x + (branch - stats[0]) / torch.sqrt(stats[1] + bn.eps) * stats[2] + stats[3]


def _random_eval_norm(block: SqueezeExcitation3d) -> SqueezeExcitation3d:
    randomise_norms(block.norm)
    return block.eval()


@pytest.mark.parametrize("shape", [(2, 24, 3, 4, 5), (1, 24, 1, 1, 1)])
def test_matches_reference(shape):
    torch.manual_seed(0)
    block = _random_eval_norm(SqueezeExcitation3d(24, reduction=4, min_hidden=2)).double()
    x = torch.randn(shape, dtype=torch.float64)
    with torch.no_grad():
        out = block(x)
        torch.testing.assert_close(out, _reference(block, x), rtol=1e-12, atol=1e-12)
    assert out.shape == x.shape


def test_hidden_width():
    assert SqueezeExcitation3d(512).hidden == 32  # c / 16
    assert SqueezeExcitation3d(32).hidden == 8  # floor for narrow test networks
    with pytest.raises(ValueError, match="reduction"):
        SqueezeExcitation3d(32, reduction=0)


def test_gate_is_one_scale_per_channel_and_clip():
    """Changing the input at one position moves the channel scale everywhere in that clip only."""
    torch.manual_seed(1)
    block = SqueezeExcitation3d(8, min_hidden=4)
    x = torch.randn(2, 8, 2, 3, 3)
    x2 = x.clone()
    x2[0, :, 1, 2, 0] += 3.0
    changed = (block.gate(x2) - block.gate(x)).abs()
    assert changed[0].sum() > 1e-4 and torch.all(changed[1] == 0)
