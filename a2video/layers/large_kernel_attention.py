"""Large kernel attention (Guo et al., "Visual Attention Network", 2022) in 3D.

A large receptive field is decomposed into a depth-wise local convolution, a depth-wise dilated
convolution and a 1×1 channel mix; the result multiplies the input elementwise (no softmax, so the
"attention" is adaptive in space, time and channel alike). See ``SPEC.md`` §5.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn


def as_triple(value: int | Sequence[int], name: str) -> tuple[int, int, int]:
    """``value`` as a (t, h, w) triple of positive ints; ``name`` goes into the error message."""
    triple = (value,) * 3 if isinstance(value, int) else tuple(value)
    if len(triple) != 3 or any(v < 1 for v in triple):
        raise ValueError(f"{name} needs three positive (t, h, w) entries, got {value!r}")
    return triple  # type: ignore[return-value]


class LargeKernelAttention3d(nn.Module):
    """LKA for (N, c, d, h, w) feature maps, residual and identity at init.

    ``attention = conv1x1(dwconv_dilated(dwconv_local(X)))`` and the original output is
    ``attention ⊙ X``. In 3D the paper's 5×5 and 7×7 (dilation 3) kernels become (3, 5, 5) and
    (3, 7, 7) with dilation (1, 3, 3): time is short at res3/res4 (4 frames for an 8-frame clip), so
    it gets a plain 3-tap kernel in each convolution (5 frames of reach) while space keeps the
    paper's 19×19 reach. Every convolution pads to keep (d, h, w).

    VAN already uses LKA inside a residual branch (``X + scale · proj(LKA(...))``, layer scale
    starting at 1e-2). Here the branch is ``attention ⊙ X`` closed by a norm whose γ starts at 0,
    ``Y = X + norm(attention ⊙ X)``, so the block is exactly the identity at init.

    Args:
        in_channels: c, the channels of the input and the output.
        local_kernel: (t, h, w) kernel of the depth-wise local convolution (odd sizes).
        dilated_kernel: (t, h, w) kernel of the depth-wise dilated convolution (odd sizes).
        dilation: (t, h, w) dilation of the second convolution.
        norm_layer: normalisation closing the residual branch (its weight is zeroed).
    """

    def __init__(
        self,
        in_channels: int,
        local_kernel: int | Sequence[int] = (3, 5, 5),
        dilated_kernel: int | Sequence[int] = (3, 7, 7),
        dilation: int | Sequence[int] = (1, 3, 3),
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm3d,
    ) -> None:
        super().__init__()
        local_kernel = as_triple(local_kernel, "local_kernel")
        dilated_kernel = as_triple(dilated_kernel, "dilated_kernel")
        dilation = as_triple(dilation, "dilation")
        if any(k % 2 == 0 for k in local_kernel + dilated_kernel):
            raise ValueError("LargeKernelAttention3d kernels must be odd so the output keeps the input size")
        self.in_channels = in_channels
        self.local = nn.Conv3d(in_channels, in_channels, local_kernel, padding=tuple(k // 2 for k in local_kernel),
                               groups=in_channels)
        self.dilated = nn.Conv3d(
            in_channels, in_channels, dilated_kernel, dilation=dilation,
            padding=tuple(d * (k // 2) for k, d in zip(dilated_kernel, dilation)), groups=in_channels,
        )
        self.mix = nn.Conv3d(in_channels, in_channels, kernel_size=1)
        self.norm = norm_layer(in_channels)
        nn.init.zeros_(self.norm.weight)

    def attention_map(self, x: torch.Tensor) -> torch.Tensor:
        """The attention map, same shape as ``x`` (unbounded: no softmax or sigmoid)."""
        return self.mix(self.dilated(self.local(x)))  # (N, c, D, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.norm(self.attention_map(x) * x)  # (N, c, D, H, W)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, local_kernel={self.local.kernel_size}, "
                f"dilated_kernel={self.dilated.kernel_size}, dilation={self.dilated.dilation}")
