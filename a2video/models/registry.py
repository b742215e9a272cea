"""A plain name → builder registry: ``create_model("a2net_r50", num_classes=101)``."""

from __future__ import annotations

from typing import Callable

from torch import nn

from a2video.errors import A2VideoError

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register_model(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register a builder under its function name (a decorator)."""
    if builder.__name__ in _BUILDERS:
        raise ValueError(f"model {builder.__name__!r} is registered twice")
    _BUILDERS[builder.__name__] = builder
    return builder


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`, sorted."""
    return sorted(_BUILDERS)


def get_builder(name: str) -> Callable[..., nn.Module]:
    """The builder function registered under ``name``."""
    if name not in _BUILDERS:
        raise A2VideoError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    return _BUILDERS[name]


def create_model(name: str, num_classes: int = 400, pretrained: str | None = None, init_from: str | None = None,
                 **kwargs) -> nn.Module:
    """Build a registered model.

    Args:
        name: a name from :func:`list_models`.
        num_classes: classifier outputs.
        pretrained: None (random init), "imagenet" (torchvision's ImageNet ResNet weights, inflated),
            or a path to a 2D ResNet state dict to inflate.
        init_from: a 3D checkpoint or a known public checkpoint's name to start from (see
            :func:`a2video.models.weights.load_weights`);
            its classifier is kept only when it has ``num_classes`` outputs.
        **kwargs: passed to the builder (``base_width``, ``dropout``, attention options, ...).
    """
    model = get_builder(name)(num_classes=num_classes, **kwargs)
    if pretrained or init_from:
        from a2video.models.weights import load_initial_weights

        load_initial_weights(model, pretrained=pretrained, init_from=init_from)
    return model
