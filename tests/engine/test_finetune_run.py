"""Fine-tuning through the command: a source-set checkpoint (10 classes) starts a target-set run
(8 classes) via ``model.init_from``.

What the optimiser is given is observed inside the real run (a callback snapshots the module and
the optimiser at the start of training). ``test_optim.py`` covers ``parameter_groups`` on its own.
"""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from a2video.models import create_model

from engine_helpers import BATCH, load_checkpoint, run_ok, tiny_config, write_config

LR, BACKBONE_MULT, WEIGHT_DECAY = 0.05, 0.2, 1e-4


class SnapshotAtTrainStart(pl.Callback):
    """Save the weights and the optimiser's groups (by parameter name) before the first step."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_start(self, trainer, pl_module) -> None:
        names = {id(p): n for n, p in pl_module.named_parameters()}
        groups = [{"name": g["name"], "lr": g["lr"], "initial_lr": g["initial_lr"],
                   "weight_decay": g["weight_decay"], "params": [names[id(p)] for p in g["params"]]}
                  for g in trainer.optimizers[0].param_groups]
        torch.save({"state_dict": {k: v.clone() for k, v in pl_module.state_dict().items()}, "groups": groups},
                   self.path)


@pytest.fixture(scope="module")
def finetune(source_run, synthetic, tmp_path_factory):
    root = tmp_path_factory.mktemp("finetune")
    config = tiny_config(synthetic.target, root / "run", epochs=1, val=False, lr=LR, weight_decay=WEIGHT_DECAY,
                         backbone_lr_mult=BACKBONE_MULT, warmup_epochs=0, init_from=str(source_run.last))
    path = write_config(root / "finetune.yaml", config)
    snapshot = root / "start.pt"
    run_ok("fit", "--config", path, f"--trainer.callbacks+={__name__}.SnapshotAtTrainStart",
           f"--trainer.callbacks.path={snapshot}")
    return torch.load(snapshot, weights_only=False), load_checkpoint(source_run.last)["state_dict"], root


def test_backbone_comes_from_the_checkpoint_and_the_classifier_is_new(finetune):
    start, source, _ = finetune
    weights = start["state_dict"]
    assert weights.keys() == source.keys()
    backbone = [k for k in weights if not k.startswith("net.fc.")]
    assert len(backbone) > 100
    different = [k for k in backbone if not torch.equal(weights[k], source[k])]
    assert not different, f"backbone tensors not loaded: {different[:3]}"
    # New classifier: 8 outputs, at the model's initialisation (zero bias, weights ~ N(0, 0.01)).
    assert source["net.fc.weight"].shape[0] == 10 and weights["net.fc.weight"].shape == (8, source["net.fc.weight"].shape[1])
    assert torch.count_nonzero(source["net.fc.bias"]) > 0, "the source head trained"
    assert torch.equal(weights["net.fc.bias"], torch.zeros(8))
    assert weights["net.fc.weight"].std().item() == pytest.approx(0.01, rel=0.15)


def test_optimizer_groups_of_the_run(finetune):
    start, _, _ = finetune
    groups = {g["name"]: g for g in start["groups"]}
    assert set(groups) == {"backbone", "backbone_no_decay", "head", "head_no_decay"}
    # lr per 4 clips (reference_batch_size) at batch 4 on one device: no scaling.
    assert groups["head"]["initial_lr"] == pytest.approx(LR * BATCH / BATCH)
    for suffix in ("", "_no_decay"):
        ratio = groups[f"backbone{suffix}"]["initial_lr"] / groups[f"head{suffix}"]["initial_lr"]
        assert ratio == pytest.approx(BACKBONE_MULT)
        assert groups[f"backbone{suffix}"]["lr"] / groups[f"head{suffix}"]["lr"] == pytest.approx(BACKBONE_MULT)
    assert set(groups["head"]["params"]) == {"net.fc.weight"}
    assert set(groups["head_no_decay"]["params"]) == {"net.fc.bias"}
    # No decay for exactly the normalisation layers' parameters and the biases, found by module type.
    model = create_model("a2net_r26", num_classes=8, base_width=4)
    norms = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)
    expected = {f"net.{module_name}.{name}" for module_name, module in model.named_modules()
                for name, _ in module.named_parameters(recurse=False)
                if isinstance(module, norms) or name == "bias"} - {"net.fc.bias"}
    assert set(groups["backbone_no_decay"]["params"]) == expected
    assert "net.conv1.weight" in groups["backbone"]["params"] and "net.bn1.weight" in expected
    assert groups["backbone"]["weight_decay"] == WEIGHT_DECAY and groups["head"]["weight_decay"] == WEIGHT_DECAY
    assert groups["backbone_no_decay"]["weight_decay"] == 0 and groups["head_no_decay"]["weight_decay"] == 0


def test_finetuned_checkpoint_resumes_without_the_source_file(finetune, source_run, tmp_path):
    """Testing the fine-tuned run's checkpoint needs its own weights only: the init_from file may be gone."""
    _, _, root = finetune
    last = root / "run" / "checkpoints" / "last.ckpt"
    assert load_checkpoint(last)["hyper_parameters"]["num_classes"] == 8
    config = root / "finetune.yaml"
    run_ok("test", "--config", config, "--ckpt_path", last, "--model.init_from", tmp_path / "gone.ckpt",
           "--model.eval_dir", tmp_path / "eval")
    assert (tmp_path / "eval" / "metrics.json").is_file()
