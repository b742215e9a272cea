"""Models as data: one :class:`ModelSpec` per name, one builder path, a plain name → builder registry.

``create_model("a2net_r50", num_classes=101)`` looks the name up, calls its named builder (a thin,
typed entry point in :mod:`a2video.models.builders`), and the builder hands its spec and keyword
arguments to :func:`build`, the one place a :class:`~a2video.models.ResNet3d` is put together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from torch import nn

from a2video.errors import A2VideoError
from a2video.models import hub
from a2video.models.inflate import counterpart_2d
from a2video.models.resnet3d import STAGES, ResNet3d


@dataclass(frozen=True)
class Backbone:
    """A 3D bottleneck ResNet's shape: units per stage and which units are inflated in time."""

    name: str  # "R50"
    layers: tuple[int, int, int, int]  # units in res2..res5
    temporal_kernels: tuple[tuple[int, ...], ...]  # per unit: 1 = first conv 3×1×1, 0 = 1×1×1

    @property
    def imagenet_arch(self) -> str | None:
        """The torchvision 2D ResNet whose ImageNet weights inflate into it (None: from scratch)."""
        return counterpart_2d(self.layers)

    def every_unit(self) -> dict[str, tuple[int, ...]]:
        """A placement naming every residual unit."""
        return {stage: tuple(range(units)) for stage, units in zip(STAGES, self.layers)}


@dataclass(frozen=True)
class ModelSpec:
    """Everything that tells one named model from another.

    ``block`` builds an attention block from ``(channels, **options)``; the named builder passes the
    options (``reduction``, ``subsample``, ...). ``checkpoints`` are the public files that load
    into the model by name (``init_from: pytorchvideo:i3d_r50_k400``).
    """

    name: str
    backbone: Backbone
    block: Callable[..., nn.Module] | None = None
    placement: Mapping[str, tuple[int, ...]] = dataclasses.field(default_factory=dict)
    checkpoints: tuple[hub.KnownCheckpoint, ...] = ()

    def describe(self) -> str:
        """One line for ``a2video flops --list``."""
        if self.block is None:
            blocks = "no attention blocks"
        else:
            count = sum(len(units) for units in self.placement.values())
            where = ("every unit" if self.placement == self.backbone.every_unit()
                     else ", ".join(f"{stage} {list(units)}" for stage, units in self.placement.items()))
            blocks = f"{count} x {self.block.__qualname__.split('.')[0]} ({where})"
        imagenet = self.backbone.imagenet_arch or "none (from scratch)"
        known = ", ".join(entry.name for entry in self.checkpoints) or "-"
        return f"{self.name:<10} {self.backbone.name:<4} {blocks}; ImageNet: {imagenet}; checkpoints: {known}"


_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
_SPECS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a builder for ``spec`` (a decorator; the function's name must be the spec's)."""

    def register(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if builder.__name__ != spec.name:
            raise ValueError(f"builder {builder.__name__!r} registered for model {spec.name!r}")
        if spec.name in _BUILDERS:
            raise ValueError(f"model {spec.name!r} is registered twice")
        listed = [entry.name for entry in spec.checkpoints if hub.is_known(entry.name)]
        if listed:
            raise ValueError(f"checkpoint {listed[0]!r} is listed under two models")
        for entry in spec.checkpoints:
            hub.add_known(dataclasses.replace(entry, model=spec.name))
        _BUILDERS[spec.name], _SPECS[spec.name] = builder, spec
        return builder

    return register


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`, sorted."""
    return sorted(_BUILDERS)


def get_builder(name: str) -> Callable[..., nn.Module]:
    """The builder function registered under ``name``."""
    if name not in _BUILDERS:
        raise A2VideoError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    return _BUILDERS[name]


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` registered under ``name``."""
    get_builder(name)
    return _SPECS[name]


def models_table() -> str:
    """Every model's spec, one line each."""
    return "\n".join(_SPECS[name].describe() for name in list_models())


def build(spec: ModelSpec, num_classes: int, *,
          attention_placement: Mapping[str, Sequence[int]] | None = None,
          block_options: Mapping[str, Any] | None = None, **kwargs: Any) -> ResNet3d:
    """The one builder path: ``spec``'s backbone with its blocks, then the caller's options.

    Args:
        spec: the model.
        num_classes: classifier outputs.
        attention_placement: stage → units followed by a block; None keeps ``spec.placement``.
        block_options: keyword arguments of ``spec.block`` besides the channel count.
        **kwargs: :class:`~a2video.models.ResNet3d` arguments (``base_width``, ``dropout``, ...).
    """
    placement = spec.placement if attention_placement is None else attention_placement
    block = None if spec.block is None else partial(spec.block, **(block_options or {}))
    # A placement for a model without blocks is ResNet3d's error to raise, not ours to drop.
    return ResNet3d(layers=spec.backbone.layers, temporal_kernels=spec.backbone.temporal_kernels,
                    num_classes=num_classes, attention_layer=block, attention_placement=placement, **kwargs)


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
