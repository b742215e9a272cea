"""Attention blocks for 3D feature maps. Each takes the channel count first and keeps the shape."""

from a2video.layers.double_attention import DoubleAttention3d, choose_association
from a2video.layers.non_local import NonLocal3d

__all__ = ["DoubleAttention3d", "NonLocal3d", "choose_association"]
