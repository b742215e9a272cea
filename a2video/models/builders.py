"""Named model variants. Each builder takes explicit keyword arguments and returns a ResNet3d.

Attention placement follows the non-local network (SPEC §2): after every other residual unit,
res3 units [1, 3] and res4 units [1, 3, 5] in ResNet-50.
"""

from __future__ import annotations

from functools import partial
from typing import Mapping, Sequence

from a2video.layers import DoubleAttention3d, NonLocal3d
from a2video.models.registry import register_model
from a2video.models.resnet3d import I3D_R50_TEMPORAL, BlockFactory, ResNet3d

R50_LAYERS = (3, 4, 6, 3)
R50_PLACEMENT = {"res3": (1, 3), "res4": (1, 3, 5)}

# ResNet-26: two units per stage; the I3D rule "inflate every other unit" gives this pattern.
R26_LAYERS = (2, 2, 2, 2)
R26_TEMPORAL = ((1, 1), (1, 0), (1, 0), (0, 1))
# The same "after every other unit" rule as R50 gives one block after the last unit of res3 and res4.
R26_PLACEMENT = {"res3": (1,), "res4": (1,)}


def _resnet3d(layers, temporal, imagenet_arch: str | None, **kwargs) -> ResNet3d:
    model = ResNet3d(layers=layers, temporal_kernels=temporal, **kwargs)
    model.imagenet_arch = imagenet_arch  # which torchvision 2D net can be inflated into it
    return model


def _attention_r50(block: BlockFactory, placement: Mapping[str, Sequence[int]], **kwargs) -> ResNet3d:
    """I3D-R50 (ImageNet-inflatable) with ``block`` after the units named in ``placement``."""
    return _resnet3d(R50_LAYERS, I3D_R50_TEMPORAL, "resnet50", attention_layer=block,
                     attention_placement=placement, **kwargs)


@register_model
def i3d_r50(num_classes: int = 400, *, base_width: int = 64, dropout: float = 0.5, **kwargs) -> ResNet3d:
    """I3D ResNet-50 8×8 baseline (PySlowFast recipe), no attention blocks."""
    return _resnet3d(R50_LAYERS, I3D_R50_TEMPORAL, "resnet50", num_classes=num_classes,
                     base_width=base_width, dropout=dropout, **kwargs)


@register_model
def a2net_r50(
    num_classes: int = 400,
    *,
    base_width: int = 64,
    dropout: float = 0.5,
    reduction: int = 4,
    association: str = "auto",
    attention_placement: Mapping[str, Sequence[int]] = R50_PLACEMENT,
    **kwargs,
) -> ResNet3d:
    """A²-Net ResNet-50: I3D-R50 with five double-attention blocks, m = n = c / ``reduction``."""
    block = partial(_double_attention, reduction=reduction, association=association)
    return _attention_r50(block, attention_placement, num_classes=num_classes, base_width=base_width,
                          dropout=dropout, **kwargs)


@register_model
def nl_r50(
    num_classes: int = 400,
    *,
    base_width: int = 64,
    dropout: float = 0.5,
    subsample: bool = True,
    attention_placement: Mapping[str, Sequence[int]] = R50_PLACEMENT,
    **kwargs,
) -> ResNet3d:
    """Non-local ResNet-50: I3D-R50 with five embedded-Gaussian non-local blocks at the A² places."""
    block = partial(NonLocal3d, subsample=subsample)
    return _attention_r50(block, attention_placement, num_classes=num_classes, base_width=base_width,
                          dropout=dropout, **kwargs)


@register_model
def i3d_r26(num_classes: int = 400, *, base_width: int = 64, dropout: float = 0.5, **kwargs) -> ResNet3d:
    """ResNet-26 (2, 2, 2, 2) in 3D, the paper's ablation backbone (16×112² input). No ImageNet weights."""
    return _resnet3d(R26_LAYERS, R26_TEMPORAL, None, num_classes=num_classes,
                     base_width=base_width, dropout=dropout, **kwargs)


@register_model
def a2net_r26(
    num_classes: int = 400,
    *,
    base_width: int = 64,
    dropout: float = 0.5,
    reduction: int = 4,
    association: str = "auto",
    attention_placement: Mapping[str, Sequence[int]] = R26_PLACEMENT,
    **kwargs,
) -> ResNet3d:
    """ResNet-26 with double-attention blocks (default: after the last unit of res3 and of res4)."""
    block = partial(_double_attention, reduction=reduction, association=association)
    return _resnet3d(R26_LAYERS, R26_TEMPORAL, None, num_classes=num_classes,
                     base_width=base_width, dropout=dropout, attention_layer=block,
                     attention_placement=attention_placement, **kwargs)


def _double_attention(channels: int, reduction: int, association: str) -> DoubleAttention3d:
    return DoubleAttention3d(channels, m=channels // reduction, n=channels // reduction, association=association)
