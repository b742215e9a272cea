"""3D bottleneck ResNet (I3D style) with attention blocks inserted after chosen residual units.

Parameter names follow torchvision's 2D ResNet (``conv1``, ``layer2.1.conv1``, ``fc``) so ImageNet
inflation is a name-for-name copy; an attention block after unit i of a stage lives at
``layer{k}.{i}.attention``.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

BlockFactory = Callable[[int], nn.Module]
"""Builds an attention block for a given channel count; the block must keep (N, c, d, h, w)."""

STAGES = ("res2", "res3", "res4", "res5")

# Which bottleneck's first 1×1 conv becomes 3×1×1 (SPEC §2, the I3D ResNet-50 pattern).
I3D_R50_TEMPORAL = ((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0))


class Bottleneck3d(nn.Module):
    """1×1 (or t×1×1) → 1×3×3 → 1×1 bottleneck, residual, then an optional attention block.

    Args:
        in_channels: input channels.
        width: channels of the inner convolutions; the output has ``4 * width``.
        spatial_stride: stride of the 1×3×3 convolution (torchvision's ResNet v1.5 placement).
        temporal_kernel: time extent of the first convolution (1 or 3).
        norm_layer: normalisation layer factory.
        attention: module applied to the unit's output (after the residual add and ReLU).
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        width: int,
        spatial_stride: int = 1,
        temporal_kernel: int = 1,
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm3d,
        attention: nn.Module | None = None,
    ) -> None:
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = nn.Conv3d(
            in_channels, width, (temporal_kernel, 1, 1), padding=(temporal_kernel // 2, 0, 0), bias=False
        )
        self.bn1 = norm_layer(width)
        self.conv2 = nn.Conv3d(
            width, width, (1, 3, 3), stride=(1, spatial_stride, spatial_stride), padding=(0, 1, 1), bias=False
        )
        self.bn2 = norm_layer(width)
        self.conv3 = nn.Conv3d(width, out_channels, 1, bias=False)
        self.bn3 = norm_layer(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if spatial_stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv3d(in_channels, out_channels, 1, stride=(1, spatial_stride, spatial_stride), bias=False),
                norm_layer(out_channels),
            )
        self.attention = attention

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.relu(self.bn3(self.conv3(out)) + identity)
        if self.attention is not None:
            out = self.attention(out)
        return out


class ResNet3d(nn.Module):
    """3D ResNet for clips (N, C, T, H, W) with configurable inflation and attention placement.

    Defaults give the I3D ResNet-50 8×8 of PySlowFast: a 5×7×7 stem with temporal stride 1, a
    1×3×3 max-pool, time max-pooled by 2 after res2, and the SPEC §2 inflation pattern.

    Args:
        layers: bottleneck units per stage (res2..res5): (3, 4, 6, 3) for ResNet-50.
        num_classes: classifier outputs; 0 leaves no classifier (``forward`` returns features).
        in_channels: input channels of the clip.
        base_width: inner width of res2; stages use 1, 2, 4, 8 times it. 64 is the real network;
            smaller values make toy models for tests and CPUs.
        stem_kernel: (t, h, w) kernel of the first convolution.
        stem_stride: (t, h, w) stride of the first convolution.
        stem_pool: apply the 1×3×3, stride 1×2×2 max-pool after the stem.
        temporal_kernels: per stage, per unit, 1 to inflate the unit's first conv to 3×1×1 else 0.
        temporal_pool_after: stages after which time is max-pooled by 2.
        spatial_strides: spatial stride of the first unit of each stage.
        attention_layer: block factory (channels → module), or a mapping from stage name to factory.
        attention_placement: stage name → indices (0-based) of the units followed by a block.
        dropout: dropout probability before the classifier.
        norm_layer: normalisation layer factory for the backbone.
        zero_init_residual: start each unit's last BatchNorm at γ = 0 (helps training from scratch).
        fully_conv_clip: (frames, height, width) of the training clips. When set, evaluation
            (``eval()`` mode) of a larger clip is fully convolutional, as PySlowFast tests: the
            classifier sees every window of the feature map that a training clip gives (stride 1),
            and the result is the log of the windows' mean softmax. None (default), or a clip no
            larger than the training one, pools globally (the same output as without it).
    """

    def __init__(
        self,
        *,
        layers: Sequence[int] = (3, 4, 6, 3),
        num_classes: int = 400,
        in_channels: int = 3,
        base_width: int = 64,
        stem_kernel: Sequence[int] = (5, 7, 7),
        stem_stride: Sequence[int] = (1, 2, 2),
        stem_pool: bool = True,
        temporal_kernels: Sequence[Sequence[int]] = I3D_R50_TEMPORAL,
        temporal_pool_after: Sequence[str] = ("res2",),
        spatial_strides: Sequence[int] = (1, 2, 2, 2),
        attention_layer: BlockFactory | Mapping[str, BlockFactory] | None = None,
        attention_placement: Mapping[str, Sequence[int]] | None = None,
        dropout: float = 0.5,
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm3d,
        zero_init_residual: bool = False,
        fully_conv_clip: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        if len(layers) != 4 or len(temporal_kernels) != 4 or len(spatial_strides) != 4:
            raise ValueError("layers, temporal_kernels and spatial_strides need one entry per stage (4)")
        for stage, units, pattern in zip(STAGES, layers, temporal_kernels):
            if len(pattern) != units:
                raise ValueError(f"temporal_kernels for {stage} has {len(pattern)} entries for {units} units")
        placement = {stage: sorted(set(units)) for stage, units in (attention_placement or {}).items()}
        for stage, units in placement.items():
            if stage not in STAGES:
                raise ValueError(f"unknown stage {stage!r} in attention_placement; stages are {STAGES}")
            count = layers[STAGES.index(stage)]
            if any(not 0 <= u < count for u in units):
                raise ValueError(f"attention_placement[{stage!r}] = {units}: {stage} has units 0..{count - 1}")
        if fully_conv_clip is not None and (len(fully_conv_clip) != 3 or min(fully_conv_clip) < 1):
            raise ValueError(f"fully_conv_clip must be (frames, height, width), got {fully_conv_clip}")
        if placement and attention_layer is None:
            raise ValueError("attention_placement is given but attention_layer is None")
        for stage in temporal_pool_after:
            if stage not in STAGES:
                raise ValueError(f"unknown stage {stage!r} in temporal_pool_after; stages are {STAGES}")

        self.num_classes = num_classes
        self.layers = tuple(layers)
        self.attention_placement = placement
        stem_kernel, stem_stride = tuple(stem_kernel), tuple(stem_stride)
        self.conv1 = nn.Conv3d(
            in_channels, base_width, stem_kernel, stride=stem_stride,
            padding=tuple(k // 2 for k in stem_kernel), bias=False,
        )
        self.bn1 = norm_layer(base_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = (
            nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)) if stem_pool else nn.Identity()
        )
        channels = base_width
        for index, stage in enumerate(STAGES):
            factory = attention_layer.get(stage) if isinstance(attention_layer, Mapping) else attention_layer
            if stage in placement and factory is None:
                raise ValueError(f"attention_placement names {stage} but attention_layer has no block for it")
            width = base_width * 2**index
            units = []
            for unit, inflate in enumerate(temporal_kernels[index]):
                out_channels = width * Bottleneck3d.expansion
                block = factory(out_channels) if unit in placement.get(stage, ()) else None
                units.append(
                    Bottleneck3d(
                        channels, width,
                        spatial_stride=spatial_strides[index] if unit == 0 else 1,
                        temporal_kernel=3 if inflate else 1,
                        norm_layer=norm_layer,
                        attention=block,
                    )
                )
                channels = out_channels
            self.add_module(f"layer{index + 1}", nn.Sequential(*units))
            pool = nn.MaxPool3d((2, 1, 1), stride=(2, 1, 1)) if stage in temporal_pool_after else nn.Identity()
            self.add_module(f"tpool{index + 1}", pool)
        self.num_features = channels
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc: nn.Module = nn.Identity()
        self._init_weights(zero_init_residual)
        self.reset_classifier(num_classes)
        # (t, h, w) of the features of one training clip: the fully convolutional test window.
        self.fully_conv_window = None if fully_conv_clip is None else self.feature_size(fully_conv_clip)

    def _init_weights(self, zero_init_residual: bool) -> None:
        for name, module in self.named_modules():
            if ".attention" in name:
                continue  # attention blocks own their initialisation (identity at start)
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, (nn.BatchNorm3d, nn.GroupNorm)) and module.weight is not None:
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, Bottleneck3d) and module.bn3.weight is not None:
                    nn.init.zeros_(module.bn3.weight)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a freshly initialised one (0 removes it)."""
        self.num_classes = num_classes
        if num_classes > 0:
            self.fc = nn.Linear(self.num_features, num_classes)
            nn.init.normal_(self.fc.weight, std=0.01)
            nn.init.zeros_(self.fc.bias)
        else:
            self.fc = nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone only: (N, C, T, H, W) → (N, num_features, T', H', W')."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, w, T, H/4, W/4)
        for index in range(1, 5):
            x = getattr(self, f"layer{index}")(x)
            x = getattr(self, f"tpool{index}")(x)
        return x

    def feature_size(self, clip: Sequence[int]) -> tuple[int, int, int]:
        """(t, h, w) of :meth:`forward_features` for a (frames, height, width) clip, by arithmetic."""
        size = list(clip)
        downsampling = [self.conv1, self.maxpool]
        for index in range(1, 5):
            for unit in getattr(self, f"layer{index}"):
                downsampling += [unit.conv1, unit.conv2, unit.conv3]
            downsampling.append(getattr(self, f"tpool{index}"))
        for layer in downsampling:
            if isinstance(layer, (nn.Conv3d, nn.MaxPool3d)):
                kernel, stride, padding = (_triple(getattr(layer, a)) for a in ("kernel_size", "stride", "padding"))
                size = [(n + 2 * p - k) // s + 1 for n, k, s, p in zip(size, kernel, stride, padding)]
        return tuple(size)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Average pool, dropout and classifier: (N, F, t, h, w) → (N, num_classes).

        Pools globally, except in eval mode with ``fully_conv_clip`` set and features larger than a
        training clip's: then see :meth:`forward_fully_conv`. ``pre_logits`` always pools globally.
        """
        window = self._test_window(features)
        if window is not None and not pre_logits:
            return self.forward_fully_conv(features, window)
        x = self.avgpool(features).flatten(1)  # (N, F)
        if pre_logits:
            return x
        return self.fc(self.dropout(x))

    def _test_window(self, features: torch.Tensor) -> tuple[int, ...] | None:
        """The fully convolutional window for these features, or None to pool globally."""
        if self.training or self.fully_conv_window is None or self.num_classes == 0:
            return None
        size = tuple(features.shape[2:])
        window = tuple(min(w, n) for w, n in zip(self.fully_conv_window, size))
        return None if window == size else window  # one window = global pooling: the same numbers

    def forward_fully_conv(self, features: torch.Tensor, window: Sequence[int]) -> torch.Tensor:
        """PySlowFast's test head: classify every ``window`` of the features (stride 1), softmax
        each, average: (N, F, t, h, w) → (N, K), the log of the mean probabilities (a softmax of it
        gives them back, so multi-view averaging of softmax is unchanged)."""
        pooled = F.avg_pool3d(features, tuple(window), stride=1)  # (N, F, t', h', w')
        positions = pooled.flatten(2).transpose(1, 2)  # (N, P, F)
        log_probs = F.log_softmax(self.fc(self.dropout(positions)), dim=-1)  # (N, P, K)
        return torch.logsumexp(log_probs, dim=1) - math.log(positions.shape[1])  # (N, K)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def stage_outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Activations at the end of each stage (before temporal pooling), for inspection and tests."""
        outputs = {}
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for index, stage in enumerate(STAGES, start=1):
            x = getattr(self, f"layer{index}")(x)
            outputs[stage] = x
            x = getattr(self, f"tpool{index}")(x)
        return outputs

    def classifier_parameter_names(self) -> set[str]:
        """Names of the classifier's parameters (the "new head" when fine-tuning)."""
        return {f"fc.{name}" for name, _ in self.fc.named_parameters()}

    def attention_state_names(self) -> set[str]:
        """State-dict names (parameters and buffers) of the attention blocks: the tensors a
        backbone without them (ImageNet, an I3D checkpoint) cannot provide."""
        return {f"{prefix}.{name}" for prefix, module in self.named_modules() if prefix.endswith(".attention")
                for name in module.state_dict()}


def _triple(value: int | Sequence[int]) -> tuple[int, int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value, value)
