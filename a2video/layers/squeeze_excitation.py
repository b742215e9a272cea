"""Squeeze-and-excitation (Hu et al., CVPR 2018) for 3D feature maps.

One descriptor per channel (the clip-wide average) goes through a two-layer bottleneck whose sigmoid
output rescales each channel of the input. See ``SPEC.md`` §5.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


class SqueezeExcitation3d(nn.Module):
    """Channel gate for (N, c, d, h, w) feature maps, residual and identity at init.

    The original block replaces X by ``X ⊙ s(X)`` with ``s = σ(W₂ ReLU(W₁ avgpool(X)))``. A pure gate
    cannot be the identity at initialisation (σ gives 0.5, not 1), and zeroing W₂ would also cut the
    gradient to W₁. So the gated map is a residual branch closed by a norm whose γ starts at 0:
    ``Y = X + norm(X ⊙ s)``. The block is exactly the identity at init; once trained, with the
    norm's shift absorbed, it reads ``Y = X ⊙ (1 + γ'_c · s_c)``, the "1 + gate" form with a
    learned per-channel strength.

    Args:
        in_channels: c, the channels of the input and the output.
        reduction: hidden width of the bottleneck is c // reduction (the paper's 16).
        min_hidden: lower bound of the hidden width, so narrow test networks keep a few live units.
        norm_layer: normalisation closing the residual branch (its weight is zeroed).
    """

    def __init__(
        self,
        in_channels: int,
        reduction: int = 16,
        min_hidden: int = 8,
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm3d,
    ) -> None:
        super().__init__()
        if reduction < 1 or min_hidden < 1:
            raise ValueError(f"reduction and min_hidden must be >= 1, got {reduction} and {min_hidden}")
        self.in_channels = in_channels
        self.hidden = max(min_hidden, in_channels // reduction)
        self.fc1 = nn.Linear(in_channels, self.hidden)
        self.fc2 = nn.Linear(self.hidden, in_channels)
        self.norm = norm_layer(in_channels)
        nn.init.zeros_(self.norm.weight)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The excitation s in (0, 1), shape (N, c)."""
        squeezed = x.mean(dim=(2, 3, 4))  # (N, c)
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(squeezed))))  # (N, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.gate(x)[:, :, None, None, None]  # (N, c, 1, 1, 1)
        return x + self.norm(x * s)  # (N, c, D, H, W)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, hidden={self.hidden}"
