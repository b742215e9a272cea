"""Fine-tuning options that change what is trained: ``replace_classifier``, ``nesterov``, ``label_smoothing``.

``replace_classifier`` and ``nesterov`` are observed inside a real ``a2video fit`` (a callback
records the weights at train start and the first optimiser step); the first step is checked
against SGD's update written out here. ``label_smoothing`` is checked on
``VideoClassifier.training_step`` against a NumPy cross-entropy.
"""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from a2video.engine.module import VideoClassifier
from engine_helpers import load_checkpoint, run_ok, tiny_config, write_config

MOMENTUM, WEIGHT_DECAY = 0.9, 1e-3
HEAD = "net.fc.weight"


class RecordFirstStep(pl.Callback):
    """Save the weights at train start, and the head's weight, gradient and settings around the first step."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.record: dict = {}

    def on_train_start(self, trainer, pl_module) -> None:
        self.record["start"] = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if trainer.global_step == 0:
            param = dict(pl_module.named_parameters())[HEAD]
            [group] = [g for g in optimizer.param_groups if any(p is param for p in g["params"])]
            self.record["step"] = {"before": param.detach().clone(), "grad": param.grad.detach().clone(),
                                   **{key: group[key] for key in ("lr", "momentum", "nesterov", "weight_decay")}}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if "after" not in self.record.get("step", {"after": None}):
            self.record["step"]["after"] = dict(pl_module.named_parameters())[HEAD].detach().clone()
            torch.save(self.record, self.path)


@pytest.fixture(scope="module")
def first_step(source_run, synthetic, tmp_path_factory):
    """One optimiser step of a run started from the source checkpoint, on the same 10 classes."""
    root = tmp_path_factory.mktemp("finetune_options")
    config = tiny_config(synthetic.source, root / "run", epochs=1, val=False, init_from=str(source_run.last),
                         replace_classifier=True, nesterov=True, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY,
                         warmup_epochs=0)
    config["trainer"]["max_steps"] = 1
    path = write_config(root / "config.yaml", config)
    record = root / "record.pt"
    run_ok("fit", "--config", path, f"--trainer.callbacks+={__name__}.RecordFirstStep",
           f"--trainer.callbacks.path={record}")
    return torch.load(record, weights_only=False), load_checkpoint(source_run.last)["state_dict"]


def test_replace_classifier_starts_a_new_head_even_when_the_shapes_fit(first_step):
    record, source = first_step
    start = record["start"]
    assert start[HEAD].shape == source[HEAD].shape == (10, source[HEAD].shape[1])
    backbone = [k for k in start if not k.startswith("net.fc.")]
    assert all(torch.equal(start[k], source[k]) for k in backbone), "the backbone comes from init_from"
    # The model's own initialisation (zero bias, weights ~ N(0, 0.01)), not the trained head.
    assert torch.count_nonzero(source["net.fc.bias"]) > 0
    assert torch.equal(start["net.fc.bias"], torch.zeros(10))
    assert start[HEAD].std().item() == pytest.approx(0.01, rel=0.15)
    assert not torch.equal(start[HEAD], source[HEAD])


def test_without_replace_classifier_a_fitting_head_is_loaded(source_run):
    module = VideoClassifier(model="a2net_r26", base_width=4, init_from=str(source_run.last))
    module.build(10)
    source = load_checkpoint(source_run.last)["state_dict"]
    for key in (HEAD, "net.fc.bias"):
        assert torch.equal(module.state_dict()[key], source[key]), key


def test_nesterov_reaches_the_optimiser_of_the_run(first_step):
    record, _ = first_step
    step = record["step"]
    assert step["momentum"] == MOMENTUM and step["weight_decay"] == WEIGHT_DECAY
    # First SGD step: the momentum buffer is d = grad + wd * w; Nesterov moves by lr * (d + momentum * d),
    # plain momentum by lr * d.
    d = step["grad"].double() + WEIGHT_DECAY * step["before"].double()
    moved = (step["before"].double() - step["after"].double())
    assert moved.abs().max() > 0
    torch.testing.assert_close(moved, step["lr"] * (1 + MOMENTUM) * d, rtol=1e-3, atol=1e-9)
    assert step["nesterov"] is True


def _smoothed_cross_entropy(logits: np.ndarray, labels: np.ndarray, smoothing: float) -> float:
    log_p = logits - logits.max(1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))  # (N, K)
    k = logits.shape[1]
    target = np.full_like(log_p, smoothing / k)
    target[np.arange(len(labels)), labels] += 1 - smoothing
    return float(-(target * log_p).sum(1).mean())


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_training_loss_uses_label_smoothing():
    torch.manual_seed(0)
    module = VideoClassifier(model="a2net_r26", base_width=4, dropout=0.0, label_smoothing=0.3)
    module.build(5, load_initial_weights=False)
    module.eval()  # BatchNorm on running statistics, so the two forward passes below agree
    with torch.no_grad():
        module.net.fc.bias.copy_(torch.tensor([4.0, 0.0, -2.0, 1.0, -4.0]))  # far from uniform
    clips, labels = torch.randn(6, 3, 4, 32, 32), torch.tensor([0, 1, 2, 3, 4, 2])
    with torch.no_grad():
        loss = module.training_step({"video": clips, "label": labels}, 0)
        logits = module(clips).double().numpy()
    expected = _smoothed_cross_entropy(logits, labels.numpy(), 0.3)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert abs(expected - _smoothed_cross_entropy(logits, labels.numpy(), 0.0)) > 0.05  # smoothing matters here
