"""The double-attention (A²) block of Chen et al., "A²-Nets: Double Attention Networks" (NeurIPS 2018).

Step 1 gathers n global descriptors from the whole clip (each an attention-weighted average of m
features over all d·h·w positions); step 2 distributes them back, every position taking its own
convex mix of the n descriptors. See ``SPEC.md`` §1.
"""

from __future__ import annotations

from typing import Callable, Literal

import torch
import torch.nn.functional as F
from torch import nn

Association = Literal["left", "right", "auto"]


def choose_association(length: int, m: int, n: int) -> Literal["left", "right"]:
    """Pick the cheaper way to evaluate ``A · softmax(B)ᵀ · softmax(V)``.

    Left (gather first) keeps an m×n matrix; right (pairwise first) keeps an L×L one. The paper
    uses left whenever L² > m·n, which is every realistic video shape.
    """
    return "left" if length * length > m * n else "right"


def stable_softmax(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Softmax computed in at least float32 (fp16/bf16 logits are widened, float64 kept).

    Under fp16 autocast the normalising sum of a few thousand exp() terms can overflow, and bf16
    loses the small weights of long clips.
    """
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    return F.softmax(x, dim=dim)


class DoubleAttention3d(nn.Module):
    """Double-attention block for (N, c, d, h, w) feature maps, residual and identity at init.

    The closing BatchNorm has γ = 0, so a freshly inserted block returns its input exactly and an
    ImageNet-inflated backbone keeps its function until training moves γ.

    Args:
        in_channels: c, the channels of the input and the output.
        m: channels of the gathered features A = φ(X); defaults to c // 4.
        n: number of gathering / distribution maps B = θ(X), V = ρ(X); defaults to c // 4.
        association: "left" computes (A·softmax(B)ᵀ)·softmax(V) with O(m·n) memory, "right"
            computes A·(softmax(B)ᵀ·softmax(V)) with O(L²) memory, "auto" picks per call.
        norm_layer: normalisation after the m → c expansion (its weight is zeroed).
    """

    def __init__(
        self,
        in_channels: int,
        m: int | None = None,
        n: int | None = None,
        association: Association = "auto",
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm3d,
    ) -> None:
        super().__init__()
        if association not in ("left", "right", "auto"):
            raise ValueError(f"association must be 'left', 'right' or 'auto', got {association!r}")
        self.in_channels = in_channels
        self.m = m or max(1, in_channels // 4)
        self.n = n or max(1, in_channels // 4)
        self.association = association
        # No bias on θ: the softmax over positions ignores a per-map shift, so it would never learn.
        # No bias on φ: it adds the same vector at every position, which the closing BatchNorm removes.
        self.phi = nn.Conv3d(in_channels, self.m, kernel_size=1, bias=False)  # features to gather
        self.theta = nn.Conv3d(in_channels, self.n, kernel_size=1, bias=False)  # gathering attention
        self.rho = nn.Conv3d(in_channels, self.n, kernel_size=1)  # distribution attention
        self.proj = nn.Conv3d(self.m, in_channels, kernel_size=1, bias=False)
        self.norm = norm_layer(in_channels)
        nn.init.zeros_(self.norm.weight)

    @classmethod
    def reduced(cls, in_channels: int, reduction: int = 4, association: Association = "auto") -> DoubleAttention3d:
        """A block with m = n = c / ``reduction`` (A²-Net's blocks use 4)."""
        return cls(in_channels, m=in_channels // reduction, n=in_channels // reduction, association=association)

    def attention_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return A (N, m, L), softmax_L(B) (N, n, L) and softmax_n(V) (N, n, L)."""
        a = self.phi(x).flatten(2)  # (N, m, L)
        b = self.theta(x).flatten(2)  # (N, n, L)
        v = self.rho(x).flatten(2)  # (N, n, L)
        gather = stable_softmax(b, dim=2).to(a.dtype)  # (N, n, L), each map sums to 1 over L
        distribute = stable_softmax(v, dim=1).to(a.dtype)  # (N, n, L), sums to 1 over n
        return a, gather, distribute

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        N, _, D, H, W = x.shape
        length = D * H * W
        a, gather, distribute = self.attention_maps(x)
        association = self.association
        if association == "auto":
            association = choose_association(length, self.m, self.n)
        if association == "left":
            descriptors = torch.bmm(a, gather.transpose(1, 2))  # (N, m, n)
            z = torch.bmm(descriptors, distribute)  # (N, m, L)
        else:
            relation = torch.bmm(gather.transpose(1, 2), distribute)  # (N, L, L)
            z = torch.bmm(a, relation)  # (N, m, L)
        z = z.view(N, self.m, D, H, W)
        return x + self.norm(self.proj(z))  # (N, c, D, H, W)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, m={self.m}, n={self.n}, association={self.association!r}"
