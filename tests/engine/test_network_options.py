"""``model.channels_last`` and ``model.compile``: the same function as the eager network, on a CPU.

Each variant gets the eager network's weights, then must give the same train-mode logits, loss and
gradient of every parameter, to float32 rounding (and, for channels_last, the same eval-mode logits).
Both options must keep the parameter names, so checkpoints move freely between runs with and
without them. The compiled case is checked in train mode only: each mode is its own compilation
(about a minute of a 2-core CPU each), and training is what the option is for.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch._dynamo.utils import counters

from a2video.engine.module import VideoClassifier

NUM_CLASSES = 5


def classifier(**options: bool) -> VideoClassifier:
    module = VideoClassifier(model="a2net_r26", base_width=4, dropout=0.0, **options)
    module.build(NUM_CLASSES, load_initial_weights=False)
    return module


def train_step(module: VideoClassifier, clips: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Logits and gradients of one train-mode forward/backward (BatchNorm on batch statistics)."""
    module.train()
    module.zero_grad(set_to_none=True)
    logits = module(clips)
    F.cross_entropy(logits, labels).backward()
    return logits.detach(), {name: p.grad.clone() for name, p in module.named_parameters()}


@pytest.fixture(scope="module")
def eager_and_batch():
    torch.manual_seed(0)
    eager = classifier()
    with torch.no_grad():  # non-trivial BatchNorm affines and A² output scales (γ starts at 0)
        for name, p in eager.named_parameters():
            if "bn" in name or "norm" in name:
                p.uniform_(0.5, 1.5)
    clips = torch.randn(4, 3, 4, 32, 32)  # (N, C, T, H, W)
    labels = torch.arange(4) % NUM_CLASSES
    return eager, clips, labels


def assert_same_function(variant: VideoClassifier, eager: VideoClassifier, clips: torch.Tensor,
                         labels: torch.Tensor, *, eval_mode: bool) -> None:
    assert list(variant.state_dict()) == list(eager.state_dict())  # checkpoints interchange
    variant.load_state_dict(eager.state_dict())
    if eval_mode:
        with torch.no_grad():
            torch.testing.assert_close(variant.eval()(clips), eager.eval()(clips), rtol=1e-4, atol=1e-5)
    logits, grads = train_step(variant, clips, labels)
    eager_logits, eager_grads = train_step(eager, clips, labels)
    torch.testing.assert_close(logits, eager_logits, rtol=1e-4, atol=1e-5)
    assert grads.keys() == eager_grads.keys()
    for name, grad in eager_grads.items():
        torch.testing.assert_close(grads[name], grad, rtol=1e-3, atol=1e-5, msg=lambda m: f"{name}: {m}")


def test_channels_last_network_keeps_weights_in_that_format_and_computes_the_same(eager_and_batch):
    eager, clips, labels = eager_and_batch
    variant = classifier(channels_last=True)
    assert variant.net.conv1.weight.is_contiguous(memory_format=torch.channels_last_3d)
    assert not eager.net.conv1.weight.is_contiguous(memory_format=torch.channels_last_3d)
    assert_same_function(variant, eager, clips, labels, eval_mode=True)
    # The weights stay channels-last after a checkpoint is loaded into them.
    assert variant.net.layer1[0].conv2.weight.is_contiguous(memory_format=torch.channels_last_3d)


def test_compiled_network_computes_the_same(eager_and_batch):
    eager, clips, labels = eager_and_batch
    variant = classifier(compile=True)
    counters.clear()
    assert_same_function(variant, eager, clips, labels, eval_mode=False)
    assert counters["stats"]["unique_graphs"] >= 1  # it really ran through torch.compile
