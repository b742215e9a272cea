"""Coordinate attention (Hou et al., CVPR 2021) extended from (h, w) to (t, h, w).

Instead of one clip-wide average per channel (squeeze-and-excitation), the input is averaged along
each axis separately, so the gates keep *where* along t, h and w a channel responds. See ``SPEC.md`` §5.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


class CoordinateAttention3d(nn.Module):
    """Per-axis gates for (N, c, d, h, w) feature maps, residual and identity at init.

    1. Pool along each axis: ``z_t`` (N, c, d) averages over h and w, ``z_h`` (N, c, h) over d and w,
       ``z_w`` (N, c, w) over d and h.
    2. Concatenate to (N, c, d + h + w), shared 1×1 conv to ``mid = max(min_mid, c // reduction)``,
       BatchNorm, h-swish.
    3. Split back; one 1×1 conv (mid → c) and sigmoid per axis give ``a_t``, ``a_h``, ``a_w``.
    4. The original output is ``X ⊙ a_t ⊙ a_h ⊙ a_w`` (each gate broadcast along the other axes).

    Like :class:`~a2video.layers.SqueezeExcitation3d`, the gated map is a residual branch closed by a
    norm with γ = 0, ``Y = X + norm(X ⊙ a_t ⊙ a_h ⊙ a_w)``: exactly the identity at init (a bare
    sigmoid gate would halve every activation three times), and once trained it acts as
    ``X ⊙ (1 + γ'_c · a_t a_h a_w)``.

    Args:
        in_channels: c, the channels of the input and the output.
        reduction: the shared conv's width is c // reduction (the paper's 32) ...
        min_mid: ... but at least this (the paper's 8).
        norm_layer: normalisation closing the residual branch (its weight is zeroed).
    """

    def __init__(
        self,
        in_channels: int,
        reduction: int = 32,
        min_mid: int = 8,
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm3d,
    ) -> None:
        super().__init__()
        if reduction < 1 or min_mid < 1:
            raise ValueError(f"reduction and min_mid must be >= 1, got {reduction} and {min_mid}")
        self.in_channels = in_channels
        self.mid = max(min_mid, in_channels // reduction)
        # No bias: the BatchNorm right after removes it.
        self.reduce = nn.Conv1d(in_channels, self.mid, kernel_size=1, bias=False)
        self.reduce_norm = nn.BatchNorm1d(self.mid)
        self.act = nn.Hardswish()
        self.gate_t = nn.Conv1d(self.mid, in_channels, kernel_size=1)
        self.gate_h = nn.Conv1d(self.mid, in_channels, kernel_size=1)
        self.gate_w = nn.Conv1d(self.mid, in_channels, kernel_size=1)
        self.norm = norm_layer(in_channels)
        nn.init.zeros_(self.norm.weight)

    def gates(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return a_t (N, c, d), a_h (N, c, h), a_w (N, c, w), each in (0, 1)."""
        D, H, W = x.shape[2:]
        pooled = torch.cat([x.mean(dim=(3, 4)), x.mean(dim=(2, 4)), x.mean(dim=(2, 3))], dim=2)  # (N, c, D+H+W)
        mixed = self.act(self.reduce_norm(self.reduce(pooled)))  # (N, mid, D+H+W)
        z_t, z_h, z_w = torch.split(mixed, [D, H, W], dim=2)
        return torch.sigmoid(self.gate_t(z_t)), torch.sigmoid(self.gate_h(z_h)), torch.sigmoid(self.gate_w(z_w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a_t, a_h, a_w = self.gates(x)
        gate = a_t[:, :, :, None, None] * a_h[:, :, None, :, None] * a_w[:, :, None, None, :]  # (N, c, D, H, W)
        return x + self.norm(x * gate)  # (N, c, D, H, W)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, mid={self.mid}"
