"""Parameter and multiply-add counts for one view, computed on the meta device (no real compute).

GMACs = torch's FLOP counter halved: it counts every convolution, linear layer and matmul (the
attention matmuls included) as 2 FLOPs per multiply-add, and skips elementwise work (ReLU,
BatchNorm, softmax), as the papers' "GFLOPs" do.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@dataclass
class Cost:
    """Cost of one forward pass of one view."""

    params: int
    macs: int
    input_shape: tuple[int, ...]
    attention_macs: int = 0  # multiply-adds inside the modules named ``*.attention``
    per_module: dict[str, int] = field(default_factory=dict)

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9

    @property
    def mparams(self) -> float:
        return self.params / 1e6


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or not; buffers excluded)."""
    return sum(p.numel() for p in model.parameters())


def measure_cost(model: nn.Module, input_shape: tuple[int, ...]) -> Cost:
    """Count parameters and multiply-adds of ``model`` on one input of ``input_shape``.

    The model is copied to the meta device, so full-size networks at 224² cost no compute and no
    memory; the caller's model is untouched.
    """
    params = count_parameters(model)
    meta_model = copy.deepcopy(model).to("meta").eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        meta_model(torch.empty(input_shape, device="meta"))
    flops = counter.get_flop_counts()
    per_module = {name: sum(ops.values()) // 2 for name, ops in flops.items()}
    attention = sum(
        macs for name, macs in per_module.items() if name.endswith(".attention") and name.count(".attention") == 1
    )
    return Cost(params=params, macs=counter.get_total_flops() // 2, input_shape=tuple(input_shape),
                attention_macs=attention, per_module=per_module)

