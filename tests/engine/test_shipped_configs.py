"""Every YAML in configs/ parses with the command's own parser and builds its model, data module and
trainer: a typo'd key or a bad value in a shipped recipe fails here, not on a cluster.

The recipes point at datasets and checkpoints that are not on this machine, so nothing is read:
the data module is only constructed, the network is built on the meta device (full R50 size, no
memory), and the trainer is made for the CPU with the recipe's other settings.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import yaml

from a2video.engine.datamodule import VideoDataModule
from a2video.engine.lightning_cli import parse_config
from a2video.engine.module import VideoClassifier
from a2video.engine.optim import parameter_groups
from a2video.errors import ConfigError

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


def test_configs_are_found():
    names = {path.name for path in CONFIGS}
    assert {"kinetics400_a2net_r50_8x8.yaml", "ucf101_a2net_r50_split1.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=[path.stem for path in CONFIGS])
def test_config_parses_and_builds(path: Path):
    raw = yaml.safe_load(path.read_text())
    config = parse_config(["fit", "--config", str(path)])
    for subcommand in ("validate", "test"):
        parse_config([subcommand, "--config", str(path)])

    # Every value the file sets is the value that runs (nothing dropped or renamed on the way).
    for section in ("model", "data"):
        parsed = getattr(config, section).as_dict()
        for key, value in (raw.get(section) or {}).items():
            got = parsed[key]
            assert (list(got) if isinstance(got, tuple) else got) == value, f"{section}.{key}"

    data = VideoDataModule(**config.data.as_dict())
    assert data.batch_size == raw["data"]["batch_size"]
    model = VideoClassifier(**config.model.as_dict())
    with torch.device("meta"):
        model.build(num_classes=7, load_initial_weights=False)
    assert model.net.fc.out_features == 7
    if model.hparams.model_kwargs and "attention_placement" in model.hparams.model_kwargs:
        placement = model.hparams.model_kwargs["attention_placement"]
        blocks = {name for name, _ in model.net.named_modules() if name.endswith(".attention")}
        stage = {"res2": "layer1", "res3": "layer2", "res4": "layer3", "res5": "layer4"}
        assert blocks == {f"{stage[s]}.{i}.attention" for s, units in placement.items() for i in units}
    head = {f"net.{name}" for name in model.net.classifier_parameter_names()}
    groups = parameter_groups(model.named_parameters(), head, base_lr=config.model.lr,
                              backbone_lr_mult=config.model.backbone_lr_mult, weight_decay=config.model.weight_decay)
    assert {g["name"] for g in groups} == {"backbone", "backbone_no_decay", "head", "head_no_decay"}
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))

    trainer_args = {**config.trainer.as_dict(), "accelerator": "cpu", "devices": 1, "strategy": "auto",
                    "num_nodes": 1, "logger": False, "enable_checkpointing": False, "default_root_dir": None}
    trainer_args.pop("callbacks", None)
    trainer = pl.Trainer(**trainer_args)
    assert trainer.max_epochs == raw["trainer"]["max_epochs"]


def test_a_typo_in_a_config_is_caught(tmp_path):
    raw = yaml.safe_load(CONFIGS[0].read_text())
    raw["data"]["test_crop"] = raw["data"].pop("test_crops")
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="unknown config key 'data.test_crop'.*did you mean 'data.test_crops'"):
        parse_config(["fit", "--config", str(path)])
