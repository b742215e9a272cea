"""Attention-augmented convolution (Bello et al., ICCV 2019) in 3D.

A convolution's output is concatenated with multi-head self-attention over all d·h·w positions, whose
logits carry learned relative-position terms along t, h and w. Time and memory of the attention
grow with L² per head, like the non-local block. See ``SPEC.md`` §5.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from a2video.layers.double_attention import stable_softmax
from a2video.layers.large_kernel_attention import as_triple


def attention_widths(channels: int, key_fraction: float, value_fraction: float, num_heads: int) -> tuple[int, int, int]:
    """Key width dk, value width dv and head count for an output of ``channels``.

    The paper's dk = κ·c and dv = υ·c are rounded to multiples of the head count. When υ·c is smaller
    than the requested heads (narrow test networks), the head count drops to ``floor(υ·c)`` (at least
    1) so every head keeps at least one value channel.
    """
    if not (0 < key_fraction and 0 < value_fraction < 1):
        raise ValueError(f"need key_fraction > 0 and 0 < value_fraction < 1, got {key_fraction}, {value_fraction}")
    if num_heads < 1:
        raise ValueError(f"num_heads must be >= 1, got {num_heads}")
    heads = max(1, min(num_heads, int(value_fraction * channels)))
    dv = heads * max(1, round(value_fraction * channels / heads))
    dk = heads * max(1, round(key_fraction * channels / heads))
    if dv >= channels:
        raise ValueError(f"{channels} output channels leave no room for the convolution next to {dv} attention "
                         f"channels; lower value_fraction or use more channels")
    return dk, dv, heads


def relative_index(length: int, max_length: int, device: torch.device) -> torch.Tensor:
    """(length, length) rows into a (2·max_length − 1)-row table: entry [i, j] is offset j − i."""
    positions = torch.arange(length, device=device)
    return positions[None, :] - positions[:, None] + (max_length - 1)


class AttentionAugmentedConv3d(nn.Module):
    """Convolution ‖ multi-head self-attention for (N, c, d, h, w), residual and identity at init.

    Branch = concat(conv(X) with c − dv channels, W_O · MHSA(X) with dv channels), where every head
    attends over all L = d·h·w positions with logits
    ``q_i·k_j / √dkh + q_i·(r_t[t_j − t_i] + r_h[y_j − y_i] + r_w[x_j − x_i]) / √dkh``.
    The relative tables r_t, r_h, r_w are ``nn.Parameter``s of shape (2·max − 1, dkh), shared by the
    heads as in the paper, created here (not in ``forward``) so they train and are saved.

    The paper uses this layer in place of a convolution; as a block inserted after a residual unit
    it keeps c channels and becomes the residual branch ``Y = X + norm(branch)``, with the norm's γ
    starting at 0: exactly the identity at init, so a pre-trained backbone keeps its function.

    Relative tables start at zero: offsets never seen in training (a test input larger than the
    training crop) then add no positional bias instead of a random one. Inputs larger than
    ``max_extent`` along any axis raise a ``ValueError``; nothing is interpolated.

    Args:
        in_channels: c, the channels of the input and the output.
        key_fraction: κ, key/query width as a fraction of c (paper: 0.2).
        value_fraction: υ, attention output width as a fraction of c (paper: 0.1).
        num_heads: heads (paper: 8); reduced for narrow inputs, see :func:`attention_widths`.
        kernel_size: (t, h, w) kernel of the convolution part; (1, 3, 3) matches the backbone's
            spatial convolutions, which are what the paper augments. Odd sizes.
        max_extent: largest (d, h, w) the relative tables cover. The default covers 16 frames at
            64×64 (res3 of a 512² crop).
        relative: add the relative-position logits (off = content-only attention).
        norm_layer: normalisation closing the residual branch (its weight is zeroed).
    """

    def __init__(
        self,
        in_channels: int,
        key_fraction: float = 0.2,
        value_fraction: float = 0.1,
        num_heads: int = 8,
        kernel_size: int | Sequence[int] = (1, 3, 3),
        max_extent: int | Sequence[int] = (16, 64, 64),
        relative: bool = True,
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm3d,
    ) -> None:
        super().__init__()
        kernel_size = as_triple(kernel_size, "kernel_size")
        if any(k % 2 == 0 for k in kernel_size):
            raise ValueError(f"kernel_size must be odd so the output keeps the input size, got {kernel_size}")
        self.in_channels = in_channels
        self.dk, self.dv, self.num_heads = attention_widths(in_channels, key_fraction, value_fraction, num_heads)
        self.dkh = self.dk // self.num_heads
        self.dvh = self.dv // self.num_heads
        self.max_extent = as_triple(max_extent, "max_extent")
        self.relative = relative
        # No biases: the closing norm removes constant shifts of conv and W_O outputs; a key bias
        # shifts a query's logits equally for all keys (softmax ignores it); a value bias passes the
        # convex combination unchanged and then meets the norm too.
        self.conv = nn.Conv3d(in_channels, in_channels - self.dv, kernel_size,
                              padding=tuple(k // 2 for k in kernel_size), bias=False)
        self.qkv = nn.Conv3d(in_channels, 2 * self.dk + self.dv, kernel_size=1, bias=False)
        self.out = nn.Conv3d(self.dv, self.dv, kernel_size=1, bias=False)  # W_O, mixes the heads
        if relative:
            self.rel_t = nn.Parameter(torch.zeros(2 * self.max_extent[0] - 1, self.dkh))
            self.rel_h = nn.Parameter(torch.zeros(2 * self.max_extent[1] - 1, self.dkh))
            self.rel_w = nn.Parameter(torch.zeros(2 * self.max_extent[2] - 1, self.dkh))
        self.norm = norm_layer(in_channels)
        nn.init.zeros_(self.norm.weight)

    def _check_extent(self, extent: tuple[int, int, int]) -> None:
        if self.relative and any(e > m for e, m in zip(extent, self.max_extent)):
            raise ValueError(
                f"input extent (d, h, w) = {extent} exceeds the relative-position tables' max_extent "
                f"{self.max_extent}; build AttentionAugmentedConv3d with max_extent >= the largest feature map"
            )

    def relative_logits(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-axis positional logits for queries ``q`` (N, heads, dkh, d, h, w), already scaled.

        Returns (N, heads, d, h, w, d'), (..., h') and (..., w'): for the query at (t, y, x), the
        logit toward every key coordinate along t, along h and along w.
        """
        terms = []
        for table, length, max_length, axis in zip(
            (self.rel_t, self.rel_h, self.rel_w), q.shape[3:], self.max_extent, "tyx"
        ):
            embeddings = table[relative_index(length, max_length, table.device)]  # (len, len', dkh)
            terms.append(torch.einsum(f"nhetyx,{axis}se->nhtyxs", q, embeddings.to(q.dtype)))
        return terms[0], terms[1], terms[2]

    def attention_weights(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the softmax weights (N, heads, L, L), rows = queries, and the values (N, heads, dvh, L)."""
        N, _, D, H, W = x.shape
        self._check_extent((D, H, W))
        length = D * H * W
        q, k, v = torch.split(self.qkv(x), [self.dk, self.dk, self.dv], dim=1)
        q = q.reshape(N, self.num_heads, self.dkh, D, H, W) * self.dkh**-0.5
        k = k.reshape(N, self.num_heads, self.dkh, length)
        v = v.reshape(N, self.num_heads, self.dvh, length)
        logits = torch.matmul(q.flatten(3).transpose(2, 3), k)  # (N, heads, L, L)
        if self.relative:
            rel_t, rel_h, rel_w = self.relative_logits(q)
            # Added axis by axis in place: summing the three broadcast terms first would build a
            # second L² tensor per head.
            grid = logits.view(N, self.num_heads, D, H, W, D, H, W)
            grid += rel_t[..., :, None, None]
            grid += rel_h[..., None, :, None]
            grid += rel_w[..., None, None, :]
        weights = stable_softmax(logits, dim=3).to(v.dtype)  # (N, heads, L, L), rows sum to 1
        return weights, v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        N, _, D, H, W = x.shape
        weights, v = self.attention_weights(x)
        attended = torch.matmul(v, weights.transpose(2, 3))  # (N, heads, dvh, L)
        attended = self.out(attended.reshape(N, self.dv, D, H, W))  # (N, dv, D, H, W)
        branch = torch.cat([self.conv(x), attended], dim=1)  # (N, c, D, H, W)
        return x + self.norm(branch)  # (N, c, D, H, W)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, dk={self.dk}, dv={self.dv}, num_heads={self.num_heads}, "
                f"kernel_size={self.conv.kernel_size}, max_extent={self.max_extent}, relative={self.relative}")
