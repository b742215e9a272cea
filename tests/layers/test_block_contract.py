"""What every attention block promises ResNet3d: shape kept for any (d, h, w), exactly the identity
when freshly built (train and eval mode), and a gradient for every parameter once the closing
norm's γ is non-zero."""

import pytest
import torch

from a2video.layers import (
    AttentionAugmentedConv3d,
    CoordinateAttention3d,
    DoubleAttention3d,
    LargeKernelAttention3d,
    NonLocal3d,
    SqueezeExcitation3d,
)

BLOCKS = {
    "double_attention": lambda c: DoubleAttention3d(c),
    "non_local": lambda c: NonLocal3d(c),
    "squeeze_excitation": lambda c: SqueezeExcitation3d(c, min_hidden=4),
    "coordinate_attention": lambda c: CoordinateAttention3d(c, min_mid=4),
    "large_kernel_attention": lambda c: LargeKernelAttention3d(c),
    "attention_augmented": lambda c: AttentionAugmentedConv3d(c, max_extent=(3, 5, 5)),
}
# Batch 2 throughout: BatchNorm in train mode needs more than one value per channel at 1×1×1.
SHAPES = [(2, 16, 3, 4, 5), (2, 16, 1, 1, 1), (2, 16, 2, 1, 3)]


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("name", BLOCKS)
def test_identity_at_initialisation(name, train):
    torch.manual_seed(0)
    block = BLOCKS[name](16).train(train)
    for shape in SHAPES:
        x = torch.randn(shape)
        assert torch.equal(block(x), x), shape


@pytest.mark.parametrize("name", BLOCKS)
def test_gradients_reach_every_parameter(name):
    torch.manual_seed(1)
    block = BLOCKS[name](16)
    torch.nn.init.ones_(block.norm.weight)
    for shape in SHAPES:
        x = torch.randn(shape, requires_grad=True)
        out = block(x)
        assert out.shape == x.shape
        out.square().sum().backward()
        assert x.grad is not None and x.grad.abs().sum() > 0
    for pname, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname
