"""The I3D, A²-Net and non-local models: one :class:`ModelSpec` each, and a typed builder per name.

Attention placement follows the non-local network (SPEC §2): after every other residual unit,
res3 units [1, 3] and res4 units [1, 3, 5] in ResNet-50. The builders only name their options and
hand them to :func:`~a2video.models.registry.build`; what differs between models is in the specs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from a2video.layers import DoubleAttention3d, NonLocal3d
from a2video.models.hub import KnownCheckpoint
from a2video.models.preprocessing import KINETICS_SLOWFAST
from a2video.models.registry import Backbone, ModelSpec, build, register_model
from a2video.models.resnet3d import I3D_R50_TEMPORAL, ResNet3d

R50 = Backbone("R50", layers=(3, 4, 6, 3), temporal_kernels=I3D_R50_TEMPORAL)
# ResNet-26, the paper's ablation backbone: two units per stage; the I3D rule "inflate every other
# unit" gives this pattern. No torchvision counterpart, so no ImageNet weights.
R26 = Backbone("R26", layers=(2, 2, 2, 2), temporal_kernels=((1, 1), (1, 0), (1, 0), (0, 1)))

R50_PLACEMENT = {"res3": (1, 3), "res4": (1, 3, 5)}
# The same "after every other unit" rule as R50 gives one block after the last unit of res3 and res4.
R26_PLACEMENT = {"res3": (1,), "res4": (1,)}

_ZOO = "https://dl.fbaipublicfiles.com"
I3D_R50 = ModelSpec("i3d_r50", R50, checkpoints=(
    KnownCheckpoint(
        name="pytorchvideo:i3d_r50_k400", source="pytorchvideo model zoo",
        url=f"{_ZOO}/pytorchvideo/model_zoo/kinetics/I3D_8x8_R50.pyth",
        format="pytorchvideo .pyth (model_state, blocks.N...)", preprocessing=KINETICS_SLOWFAST,
        top1=73.27, top5=90.70, zoo_page="pytorchvideo docs/source/model_zoo.md (Kinetics-400, I3D R50 8x8)"),
    KnownCheckpoint(
        name="pyslowfast:i3d_r50_k400", source="PySlowFast model zoo (Caffe2-trained)",
        url=f"{_ZOO}/pyslowfast/model_zoo/kinetics400/I3D_8x8_R50.pkl",
        format="PySlowFast Caffe2 .pkl (blobs)", preprocessing=KINETICS_SLOWFAST,
        top1=73.5, top5=90.8, zoo_page="PySlowFast MODEL_ZOO.md (Kinetics/c2/I3D_8x8_R50)"),
))
A2NET_R50 = ModelSpec("a2net_r50", R50, block=DoubleAttention3d.reduced, placement=R50_PLACEMENT)
NL_R50 = ModelSpec("nl_r50", R50, block=NonLocal3d, placement=R50_PLACEMENT, checkpoints=(
    KnownCheckpoint(
        name="pyslowfast:i3d_nln_r50_k400", source="PySlowFast model zoo (Caffe2-trained)",
        url=f"{_ZOO}/pyslowfast/model_zoo/kinetics400/I3D_NLN_8x8_R50.pkl",
        format="PySlowFast Caffe2 .pkl (blobs, non-local)", preprocessing=KINETICS_SLOWFAST,
        top1=74.0, top5=91.1, zoo_page="PySlowFast MODEL_ZOO.md (Kinetics/c2/I3D_NLN_8x8_R50)"),
))
I3D_R26 = ModelSpec("i3d_r26", R26)
A2NET_R26 = ModelSpec("a2net_r26", R26, block=DoubleAttention3d.reduced, placement=R26_PLACEMENT)


@register_model(I3D_R50)
def i3d_r50(num_classes: int = 400, *, base_width: int = 64, dropout: float = 0.5, **kwargs) -> ResNet3d:
    """I3D ResNet-50 8×8 baseline (PySlowFast recipe), no attention blocks."""
    return build(I3D_R50, num_classes, base_width=base_width, dropout=dropout, **kwargs)


@register_model(A2NET_R50)
def a2net_r50(
    num_classes: int = 400,
    *,
    base_width: int = 64,
    dropout: float = 0.5,
    reduction: int = 4,
    association: str = "auto",
    attention_placement: Mapping[str, Sequence[int]] | None = None,
    **kwargs,
) -> ResNet3d:
    """A²-Net ResNet-50: I3D-R50 with five double-attention blocks, m = n = c / ``reduction``."""
    return build(A2NET_R50, num_classes, attention_placement=attention_placement,
                 block_options={"reduction": reduction, "association": association},
                 base_width=base_width, dropout=dropout, **kwargs)


@register_model(NL_R50)
def nl_r50(
    num_classes: int = 400,
    *,
    base_width: int = 64,
    dropout: float = 0.5,
    subsample: bool = True,
    attention_placement: Mapping[str, Sequence[int]] | None = None,
    **kwargs,
) -> ResNet3d:
    """Non-local ResNet-50: I3D-R50 with five embedded-Gaussian non-local blocks at the A² places."""
    return build(NL_R50, num_classes, attention_placement=attention_placement,
                 block_options={"subsample": subsample}, base_width=base_width, dropout=dropout, **kwargs)


@register_model(I3D_R26)
def i3d_r26(num_classes: int = 400, *, base_width: int = 64, dropout: float = 0.5, **kwargs) -> ResNet3d:
    """ResNet-26 (2, 2, 2, 2) in 3D, the paper's ablation backbone (16×112² input). No ImageNet weights."""
    return build(I3D_R26, num_classes, base_width=base_width, dropout=dropout, **kwargs)


@register_model(A2NET_R26)
def a2net_r26(
    num_classes: int = 400,
    *,
    base_width: int = 64,
    dropout: float = 0.5,
    reduction: int = 4,
    association: str = "auto",
    attention_placement: Mapping[str, Sequence[int]] | None = None,
    **kwargs,
) -> ResNet3d:
    """ResNet-26 with double-attention blocks (default: after the last unit of res3 and of res4)."""
    return build(A2NET_R26, num_classes, attention_placement=attention_placement,
                 block_options={"reduction": reduction, "association": association},
                 base_width=base_width, dropout=dropout, **kwargs)
