"""Video models: a 3D ResNet with pluggable attention, one spec per named model, a registry."""

from a2video.models import builders as _builders  # noqa: F401  (registers the builders)
from a2video.models import variants as _variants  # noqa: F401  (registers the other attention designs)
from a2video.models.registry import (
    ModelSpec,
    create_model,
    get_builder,
    get_spec,
    list_models,
    register_model,
)
from a2video.models.resnet3d import Bottleneck3d, ResNet3d

__all__ = ["Bottleneck3d", "ModelSpec", "ResNet3d", "create_model", "get_builder", "get_spec", "list_models",
           "register_model"]
