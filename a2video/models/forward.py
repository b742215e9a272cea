"""Many views through a network, a bounded number per forward pass (test, validation, predict, features)."""

from __future__ import annotations

from collections.abc import Callable

import torch


def forward_in_chunks(forward: Callable[[torch.Tensor], torch.Tensor], views: torch.Tensor,
                      chunk: int) -> torch.Tensor:
    """``forward`` over ``views`` (V, ...) in slices of at most ``chunk`` views; outputs concatenated (V, ...).

    Memory grows with the slice, not with the number of views (30 views of a 10×3 test at once
    would need 30 clips' activations).
    """
    step = max(1, chunk)
    return torch.cat([forward(views[i : i + step]) for i in range(0, views.shape[0], step)])
