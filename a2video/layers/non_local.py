"""Non-local block, embedded-Gaussian form (Wang et al., CVPR 2018): the A²-Nets paper's main comparison.

Every position attends to every other one through an L×L affinity matrix, so time and memory grow
with L² — the cost the double-attention block avoids.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from a2video.layers.double_attention import stable_softmax


class NonLocal3d(nn.Module):
    """Embedded-Gaussian non-local block for (N, c, d, h, w), residual and identity at init.

    Args:
        in_channels: c, the channels of the input and the output.
        inner_channels: width of θ, φ and g; defaults to c // 2.
        subsample: max-pool φ and g by 2 in h and w (the usual trick that cuts the pairwise cost by 4).
        scale: divide the affinities by sqrt(inner_channels) before the softmax.
        norm_layer: normalisation after the output convolution (its weight is zeroed, so the block
            starts as the identity).
    """

    def __init__(
        self,
        in_channels: int,
        inner_channels: int | None = None,
        subsample: bool = False,
        scale: bool = True,
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm3d,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.inner_channels = inner_channels or max(1, in_channels // 2)
        self.subsample = subsample
        self.scale = scale
        # φ and g carry no bias: φ's would shift each row of affinities by a constant (softmax
        # ignores it) and g's adds the same vector at every position (the closing BatchNorm removes it).
        self.theta = nn.Conv3d(in_channels, self.inner_channels, kernel_size=1)
        self.phi = nn.Conv3d(in_channels, self.inner_channels, kernel_size=1, bias=False)
        self.g = nn.Conv3d(in_channels, self.inner_channels, kernel_size=1, bias=False)
        self.pool = nn.MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2)) if subsample else nn.Identity()
        self.proj = nn.Conv3d(self.inner_channels, in_channels, kernel_size=1, bias=False)
        self.norm = norm_layer(in_channels)
        nn.init.zeros_(self.norm.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        N, _, D, H, W = x.shape
        theta = self.theta(x).flatten(2)  # (N, ci, L)
        source = self.pool(x)
        phi = self.phi(source).flatten(2)  # (N, ci, Ls)
        g = self.g(source).flatten(2)  # (N, ci, Ls)
        affinity = torch.bmm(theta.transpose(1, 2), phi)  # (N, L, Ls)
        if self.scale:
            affinity = affinity * self.inner_channels**-0.5
        attention = stable_softmax(affinity, dim=2).to(g.dtype)  # (N, L, Ls), rows sum to 1
        y = torch.bmm(g, attention.transpose(1, 2))  # (N, ci, L)
        y = y.view(N, self.inner_channels, D, H, W)
        return x + self.norm(self.proj(y))  # (N, c, D, H, W)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, inner_channels={self.inner_channels}, "
            f"subsample={self.subsample}, scale={self.scale}"
        )
