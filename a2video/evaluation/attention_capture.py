"""Capturing what the attention blocks of a model attend to, with forward hooks.

For every double-attention block (SPEC §1) the gathering maps softmax_L(B) say where each of the
n global descriptors is gathered from; a map matters as much as the distribution step uses its
descriptor, measured here as its mean weight softmax_n(V) over all positions (the n weights sum to
1 at every position, so the usages sum to 1). Non-local blocks have one attention row per query
position; a few are kept. The layers are never modified: hooks read their inputs and call the
block's own ``attention_maps`` (A²) or repeat ``NonLocal3d.forward``'s few lines for the chosen rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from a2video.layers import DoubleAttention3d, NonLocal3d
from a2video.layers.double_attention import stable_softmax


@dataclass
class BlockAttention:
    """The attention of one block on one clip.

    Attributes:
        name: Module name in the model (``layer2.1.attention``).
        title: Short name (``res3.1``: stage res3, after unit 1).
        kind: ``"double_attention"`` or ``"non_local"``.
        shape: (d, h, w) of the positions the maps are over.
        maps: (S, d, h, w) the maps shown; each sums to 1 over its d·h·w positions.
        labels: (S,) what each shown map is.
        usage: (n,) mean distribution weight of every gathering map (double attention), else None.
        gather: (n, d·h·w) every gathering map (double attention), else None.
        queries: (S, 3) query positions (t, y, x) in the block's input grid (non-local), else None.
        query_shape: (d, h, w) of the grid the queries live in (non-local), else None.
    """

    name: str
    title: str
    kind: str
    shape: tuple[int, int, int]
    maps: np.ndarray
    labels: list[str]
    usage: np.ndarray | None = None
    gather: np.ndarray | None = None
    queries: np.ndarray | None = None
    query_shape: tuple[int, int, int] | None = None


def capture_attention(model: nn.Module, clip: torch.Tensor, *, top: int = 4,
                      queries: int = 4) -> tuple[torch.Tensor, list[BlockAttention]]:
    """Runs ``model`` on one clip and records the attention of its A² and non-local blocks.

    Args:
        model: A classifier in eval mode.
        clip: (1, C, T, H, W) normalised float clip.
        top: Gathering maps shown per double-attention block (the most used).
        queries: Query positions shown per non-local block.

    Returns:
        (K,) logits and one :class:`BlockAttention` per block, in forward order.
    """
    records: list[BlockAttention] = []

    def double_attention_hook(name: str):
        def hook(block: DoubleAttention3d, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            x = inputs[0]
            _, gather, distribute = block.attention_maps(x)  # (1, n, L) each, the layer's own code
            usage = distribute[0].float().mean(dim=1)  # (n,) share of each descriptor, sums to 1
            order = torch.argsort(usage, descending=True, stable=True)[:top]
            shape = tuple(x.shape[2:])
            records.append(BlockAttention(
                name=name, title=_short_name(name), kind="double_attention", shape=shape,
                maps=gather[0, order].float().reshape(-1, *shape).numpy(),
                labels=[f"map {int(j)}, usage {100 * float(usage[j]):.1f}%" for j in order],
                usage=usage.numpy(), gather=gather[0].float().numpy()))
        return hook

    def non_local_hook(name: str):
        def hook(block: NonLocal3d, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            x = inputs[0]
            attention, source_shape, where = _non_local_rows(block, x, queries)
            records.append(BlockAttention(
                name=name, title=_short_name(name), kind="non_local", shape=source_shape,
                maps=attention.reshape(-1, *source_shape).numpy(),
                labels=[f"query t={t} y={y} x={xx}" for t, y, xx in where.tolist()],
                queries=where, query_shape=tuple(x.shape[2:])))
        return hook

    handles = []
    for name, module in model.named_modules():
        if isinstance(module, DoubleAttention3d):
            handles.append(module.register_forward_hook(double_attention_hook(name)))
        elif isinstance(module, NonLocal3d):
            handles.append(module.register_forward_hook(non_local_hook(name)))
    try:
        with torch.no_grad():
            logits = model(clip)[0]
    finally:
        for handle in handles:
            handle.remove()
    return logits, records


def _non_local_rows(block: NonLocal3d, x: torch.Tensor, count: int) -> tuple[torch.Tensor, tuple, np.ndarray]:
    """Attention rows of ``count`` query positions: the centres of the quadrants of the middle
    time step (then its centre), computed as ``NonLocal3d.forward`` does but for those rows only."""
    _, _, d, h, w = x.shape
    spots = [(h // 4, w // 4), (h // 4, (3 * w) // 4), ((3 * h) // 4, w // 4), ((3 * h) // 4, (3 * w) // 4),
             (h // 2, w // 2)]
    where = np.array([(d // 2, y, xx) for y, xx in spots[:max(1, count)]], dtype=np.int64)  # (Q, 3)
    flat = torch.as_tensor(where[:, 0] * h * w + where[:, 1] * w + where[:, 2])
    theta = block.theta(x).flatten(2)[:, :, flat]  # (1, ci, Q)
    source = block.pool(x)
    phi = block.phi(source).flatten(2)  # (1, ci, Ls)
    affinity = torch.bmm(theta.transpose(1, 2), phi)  # (1, Q, Ls)
    if block.scale:
        affinity = affinity * block.inner_channels**-0.5
    rows = stable_softmax(affinity, dim=2)[0].float()  # (Q, Ls), each row sums to 1
    return rows, tuple(source.shape[2:]), where


def _short_name(module_name: str) -> str:
    # layer2.1.attention -> res3.1 (torchvision's layerK is the paper's res{K+1})
    parts = module_name.split(".")
    if len(parts) >= 2 and parts[0].startswith("layer") and parts[0][5:].isdigit():
        return f"res{int(parts[0][5:]) + 1}.{parts[1]}"
    return module_name
