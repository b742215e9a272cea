"""Attention blocks for 3D feature maps. Each takes the channel count first and keeps the shape."""

from a2video.layers.attention_augmented import AttentionAugmentedConv3d
from a2video.layers.coordinate_attention import CoordinateAttention3d
from a2video.layers.double_attention import DoubleAttention3d, choose_association
from a2video.layers.large_kernel_attention import LargeKernelAttention3d
from a2video.layers.non_local import NonLocal3d
from a2video.layers.squeeze_excitation import SqueezeExcitation3d

__all__ = [
    "AttentionAugmentedConv3d",
    "CoordinateAttention3d",
    "DoubleAttention3d",
    "LargeKernelAttention3d",
    "NonLocal3d",
    "SqueezeExcitation3d",
    "choose_association",
]
