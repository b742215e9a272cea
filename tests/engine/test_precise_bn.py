"""Precise BN: BatchNorm statistics recomputed from training batches before validation and test.

The expected statistics are computed here independently: by hand for a two-layer toy network, and
from hooks on every BatchNorm layer's input for the real runs (engine_helpers). What training sees
with precise BN on is checked in test_resume.py; the DDP average over ranks in test_ddp.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from a2video.cli import main
from a2video.data.loader import EpochSampler
from a2video.engine.datamodule import VideoDataModule
from a2video.engine.lightning_cli import parse_config
from a2video.engine.precise_bn import PreciseBN, training_batches, update_bn_statistics
from engine_helpers import expected_batchnorm_statistics, load_checkpoint, run_ok, tiny_config, write_config

EPS = 1e-5


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(2, 3, 1)
        self.bn1 = nn.BatchNorm3d(3, eps=EPS)
        self.conv2 = nn.Conv3d(3, 4, 1)
        self.bn2 = nn.BatchNorm3d(4, eps=EPS, momentum=0.05)
        self.drop = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


def _toy() -> tuple[Toy, list[torch.Tensor]]:
    torch.manual_seed(0)
    model = Toy()
    for bn in (model.bn1, model.bn2):
        nn.init.uniform_(bn.weight, 0.5, 2.0)
        nn.init.uniform_(bn.bias, -1.0, 1.0)
        bn.running_mean.fill_(100.0)  # deliberately wrong
        bn.running_var.fill_(1e-3)
        bn.num_batches_tracked.fill_(7)
    batches = [torch.randn(4, 2, 3, 5, 5) * (1 + k) + 3 * k for k in range(3)]  # (N, C, T, H, W)
    return model, batches


def _channel_stats(h: torch.Tensor, unbiased: bool) -> tuple[torch.Tensor, torch.Tensor]:
    flat = h.transpose(0, 1).flatten(1)  # (C, N·T·H·W)
    return flat.mean(1), flat.var(1, correction=1 if unbiased else 0)


def _by_hand(model: Toy, batches: list[torch.Tensor]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Mean over batches of each batch's channel mean and unbiased variance, layer by layer, with
    the first layer normalising by its batch statistics as in training."""
    stats = {"bn1": [], "bn2": []}
    with torch.no_grad():
        for x in batches:
            h1 = model.conv1(x)
            stats["bn1"].append(_channel_stats(h1, unbiased=True))
            mean, var = _channel_stats(h1, unbiased=False)
            shape = (1, -1, 1, 1, 1)
            a = torch.relu((h1 - mean.view(shape)) / torch.sqrt(var.view(shape) + EPS) * model.bn1.weight.view(shape)
                           + model.bn1.bias.view(shape))
            stats["bn2"].append(_channel_stats(model.conv2(a), unbiased=True))
    return {name: tuple(torch.stack(s).mean(0) for s in zip(*pairs)) for name, pairs in stats.items()}


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_wrong_statistics_get_the_true_batch_statistics(mode):
    model, batches = _toy()
    model.train(mode == "train")
    expected = _by_hand(model, batches)
    rng = torch.get_rng_state()
    assert update_bn_statistics(model, batches) == 3
    for name in ("bn1", "bn2"):
        bn = getattr(model, name)
        torch.testing.assert_close(bn.running_mean, expected[name][0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(bn.running_var, expected[name][1], rtol=1e-5, atol=1e-5)
        assert bn.num_batches_tracked.item() == 7  # the training step count is not precise BN's
    assert (model.bn1.momentum, model.bn2.momentum) == (0.1, 0.05)
    assert all(m.training == (mode == "train") for m in model.modules()), "modes restored"
    assert torch.equal(torch.get_rng_state(), rng), "dropout stayed off: no random numbers drawn"


def test_statistics_are_reduced_over_processes_and_kept_without_batches():
    model, batches = _toy()
    expected = _by_hand(model, batches)
    update_bn_statistics(model, batches, reduce=lambda t: t + 1)  # stands for the mean over ranks
    torch.testing.assert_close(model.bn2.running_var, expected["bn2"][1] + 1, rtol=1e-5, atol=1e-5)
    before = model.bn1.running_mean.clone()
    assert update_bn_statistics(model, []) == 0
    assert torch.equal(model.bn1.running_mean, before)


def test_precise_batches_are_training_clips_in_an_order_of_their_own(synthetic, tmp_path):
    config = write_config(tmp_path / "c.yaml", tiny_config(synthetic.source, tmp_path / "run"))
    data = VideoDataModule(**parse_config(["fit", "--config", str(config)]).data.as_dict())
    train = data.train_dataloader()
    ranks = [training_batches(data, epoch=1, rank=r, world_size=2) for r in (0, 1)]
    assert all(loader.batch_size == train.batch_size and loader.dataset is train.dataset for loader in ranks)
    seen = [[i for i, _ in loader.sampler] for loader in ranks]
    assert not set(seen[0]) & set(seen[1]) and len(set(seen[0] + seen[1])) == len(train.dataset)
    training_order = EpochSampler(len(train.dataset), seed=data.seed)
    training_order.set_epoch(1)
    assert list(training_order.rank_indices()) != [i for i, _ in training_batches(data, epoch=1, rank=0,
                                                                                      world_size=1).sampler]
    again = [i for i, _ in training_batches(data, epoch=1, rank=0, world_size=2).sampler]
    assert again == seen[0], "a function of (seed, epoch, rank)"


@pytest.mark.parametrize("stage", ["validate", "test"])
def test_evaluation_runs_with_precise_statistics(source_run, tmp_path, stage):
    dump = tmp_path / "dump"
    dump.mkdir()
    run_ok(stage, "--config", source_run.config, "--ckpt_path", source_run.last, "--precise_bn.num_batches", "2",
           "--trainer.default_root_dir", tmp_path / "run", "--model.eval_dir", tmp_path / "eval",
           "--trainer.callbacks+=engine_helpers.DumpBatchNorm", f"--trainer.callbacks.folder={dump}")
    saved = torch.load(dump / f"{stage}_rank0.pt")
    expected = expected_batchnorm_statistics(source_run.config, source_run.last, epoch=saved["epoch"],
                                             world_size=1, num_batches=2)
    checkpoint = load_checkpoint(source_run.last)["state_dict"]
    assert set(saved["stats"]) == set(expected) and len(expected) > 10
    changed = 0
    for name, (mean, var) in saved["stats"].items():
        np.testing.assert_allclose(mean.numpy(), expected[name][0].numpy(), rtol=1e-4, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(var.numpy(), expected[name][1].numpy(), rtol=1e-4, atol=1e-5, err_msg=name)
        changed += not torch.allclose(mean, checkpoint[f"{name}.running_mean"])
    assert changed > len(expected) // 2, "the checkpoint's running averages were replaced"


def _error(capsys, *args) -> tuple[int, str]:
    capsys.readouterr()
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err.strip().splitlines()[-1]


def test_precise_bn_without_training_videos_or_with_frozen_statistics(source_run, tmp_path, capsys):
    common = ["--ckpt_path", source_run.last, "--precise_bn.num_batches", "2",
              "--trainer.default_root_dir", tmp_path / "run"]
    code, line = _error(capsys, "test", "--config", source_run.config, *common, "--data.train_list", "null")
    assert code == 1 and "precise BN needs the training videos (data.train_list)" in line
    code, line = _error(capsys, "test", "--config", source_run.config, *common, "--model.freeze_bn_stats", "true")
    assert code == 2 and "model.freeze_bn_stats" in line
    with pytest.raises(ValueError, match="num_batches"):
        PreciseBN(num_batches=-1)
