"""I3D-R50 with the other attention designs of SPEC §5, for comparison with A²-Net in one backbone.

Channel gates (SE, coordinate attention) go after every residual unit, as their papers use them:
they are cheap and act locally on each unit's features. Context blocks (LKA, attention-augmented
convolution) go at the five places of ``a2net_r50`` / ``nl_r50``, like the blocks they are compared
with. ``attention_placement`` overrides either choice (e.g. ``R50_PLACEMENT`` for SE, to compare
at equal block count).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from a2video.layers import (
    AttentionAugmentedConv3d,
    CoordinateAttention3d,
    LargeKernelAttention3d,
    SqueezeExcitation3d,
)
from a2video.models.builders import R50, R50_PLACEMENT
from a2video.models.registry import ModelSpec, build, register_model
from a2video.models.resnet3d import ResNet3d

R50_EVERY_UNIT = R50.every_unit()

SE_R50 = ModelSpec("se_r50", R50, block=SqueezeExcitation3d, placement=R50_EVERY_UNIT)
COORD_R50 = ModelSpec("coord_r50", R50, block=CoordinateAttention3d, placement=R50_EVERY_UNIT)
LKA_R50 = ModelSpec("lka_r50", R50, block=LargeKernelAttention3d, placement=R50_PLACEMENT)
AA_R50 = ModelSpec("aa_r50", R50, block=AttentionAugmentedConv3d, placement=R50_PLACEMENT)


@register_model(SE_R50)
def se_r50(
    num_classes: int = 400,
    *,
    base_width: int = 64,
    dropout: float = 0.5,
    reduction: int = 16,
    attention_placement: Mapping[str, Sequence[int]] | None = None,
    **kwargs,
) -> ResNet3d:
    """SE I3D-R50: a squeeze-and-excitation gate after each of the 16 residual units.

    SE-ResNet puts a gate in every unit, and one gate costs ~2c²/16 parameters and almost no MACs,
    so five would undersell the design. Unlike SE-ResNet (gate on the residual branch before the
    add), ``ResNet3d`` offers only the slot after the unit's output, and the gate there is wrapped
    residually (see :class:`~a2video.layers.SqueezeExcitation3d`) so ImageNet inflation still holds.
    """
    return build(SE_R50, num_classes, attention_placement=attention_placement,
                 block_options={"reduction": reduction}, base_width=base_width, dropout=dropout, **kwargs)


@register_model(COORD_R50)
def coord_r50(
    num_classes: int = 400,
    *,
    base_width: int = 64,
    dropout: float = 0.5,
    reduction: int = 32,
    attention_placement: Mapping[str, Sequence[int]] | None = None,
    **kwargs,
) -> ResNet3d:
    """Coordinate-attention I3D-R50: a (t, h, w) coordinate gate after each of the 16 residual units.

    Coordinate attention is a drop-in replacement for SE and is used in every block in its paper,
    so it sits where ``se_r50`` puts SE.
    """
    return build(COORD_R50, num_classes, attention_placement=attention_placement,
                 block_options={"reduction": reduction}, base_width=base_width, dropout=dropout, **kwargs)


@register_model(LKA_R50)
def lka_r50(
    num_classes: int = 400,
    *,
    base_width: int = 64,
    dropout: float = 0.5,
    attention_placement: Mapping[str, Sequence[int]] | None = None,
    **kwargs,
) -> ResNet3d:
    """Large-kernel-attention I3D-R50: five LKA blocks at the A² places (res3 [1, 3], res4 [1, 3, 5]).

    In VAN, LKA is the spatial mixer of every block of a network built around it; added to a ResNet
    it is a long-range context block (19×19×5 reach, a c×c channel mix costing c² MACs per position),
    so it goes where the non-local and A² blocks go.
    """
    return build(LKA_R50, num_classes, attention_placement=attention_placement, base_width=base_width,
                 dropout=dropout, **kwargs)


@register_model(AA_R50)
def aa_r50(
    num_classes: int = 400,
    *,
    base_width: int = 64,
    dropout: float = 0.5,
    num_heads: int = 8,
    kernel_size: Sequence[int] = (1, 3, 3),
    max_extent: Sequence[int] = (16, 64, 64),
    attention_placement: Mapping[str, Sequence[int]] | None = None,
    **kwargs,
) -> ResNet3d:
    """Attention-augmented I3D-R50: five attention-augmented convolutions at the A² places.

    Self-attention over all positions costs L² per head like the non-local block, so it goes where
    the non-local and A² blocks go. κ = 2υ = 0.2; ``max_extent`` bounds the (t, h, w) of the res3/res4
    feature maps (the default covers 32 frames at 512², far above 8×224²'s 4×28×28).
    """
    return build(AA_R50, num_classes, attention_placement=attention_placement,
                 block_options={"num_heads": num_heads, "kernel_size": kernel_size, "max_extent": max_extent},
                 base_width=base_width, dropout=dropout, **kwargs)
