"""Shared by the block tests: make a block's closing norm non-trivial."""

import torch
from torch import nn


def randomise_norms(*norms: nn.modules.batchnorm._BatchNorm, seed: int | None = None) -> None:
    """Give each BatchNorm random affine parameters and running statistics, in place.

    Blocks start as the identity (their closing norm's scale is 0); a test of their math needs
    the norm to pass something through, with statistics that are not the trivial 0 / 1. The
    values come from torch's global generator unless a ``seed`` is given.
    """
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    with torch.no_grad():
        for norm in norms:
            for tensor in (norm.weight, norm.bias, norm.running_mean):
                tensor.copy_(torch.randn(tensor.shape, generator=g))
            norm.running_var.copy_(torch.rand(norm.running_var.shape, generator=g) + 0.5)
