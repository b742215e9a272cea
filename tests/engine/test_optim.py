"""Learning-rate schedule, linear scaling, parameter groups, BN freezing, RNG states, CPU threads."""

import math
from types import SimpleNamespace

import pytest
import torch

from a2video.engine.checkpoints import capture_rng_states, restore_rng_states
from a2video.engine.module import VideoClassifier
from a2video.engine.optim import global_batch_size, make_schedule, parameter_groups, scaled_lr
from a2video.engine.runtime import cpu_threads


def _schedule(**kw):
    base = dict(total_steps=100, steps_per_epoch=10, schedule="cosine", warmup_steps=10,
                warmup_start_ratio=0.1, min_lr_ratio=0.0, step_epochs=[], step_gamma=0.1)
    return make_schedule(**{**base, **kw})


def test_warmup_then_cosine():
    f = _schedule()
    assert f(0) == pytest.approx(0.1)
    assert f(5) == pytest.approx(0.1 + 0.9 * 0.5)
    assert f(10) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.5 * (1 + math.cos(math.pi * 45 / 90)))
    assert f(100) == pytest.approx(0.0, abs=1e-12)


def test_step_schedule():
    f = _schedule(schedule="step", warmup_steps=0, step_epochs=[3, 6])
    assert [f(s) for s in (0, 29, 30, 59, 60, 99)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])


def _module(**kw):
    module = VideoClassifier(model="a2net_r26", base_width=4, **kw)
    module.build(num_classes=5)
    return module


def test_parameter_groups_split_head_and_decay():
    module = _module(lr=0.1, backbone_lr_mult=0.2, weight_decay=1e-4)
    head_names = {f"net.{n}" for n in module.net.classifier_parameter_names()}
    groups = {g["name"]: g for g in parameter_groups(module.named_parameters(), head_names, base_lr=0.1,
                                                     backbone_lr_mult=0.2, weight_decay=1e-4)}
    assert set(groups) == {"backbone", "backbone_no_decay", "head", "head_no_decay"}
    assert groups["head"]["lr"] == pytest.approx(0.1) and groups["backbone"]["lr"] == pytest.approx(0.02)
    assert groups["backbone_no_decay"]["weight_decay"] == 0 and groups["backbone"]["weight_decay"] == 1e-4
    head_ids = {id(p) for p in module.net.fc.parameters()}
    assert {id(p) for p in groups["head"]["params"] + groups["head_no_decay"]["params"]} == head_ids
    norms = [p for m in module.modules() if isinstance(m, torch.nn.BatchNorm3d) for p in m.parameters()]
    no_decay = {id(p) for p in groups["backbone_no_decay"]["params"]}
    assert all(id(p) in no_decay for p in norms)
    total = sum(len(g["params"]) for g in groups.values())
    assert total == len(list(module.parameters()))


def test_linear_scaling_rule():
    trainer = SimpleNamespace(world_size=8, accumulate_grad_batches=2)  # only what global_batch_size reads
    assert global_batch_size(trainer, per_device=16) == 256
    assert scaled_lr(0.01, reference_batch_size=64, global_batch_size=256) == pytest.approx(0.01 * 256 / 64)


def test_freeze_bn_stats_keeps_running_statistics():
    module = _module(freeze_bn_stats=True).train()
    bn = module.net.bn1
    before = bn.running_mean.clone()
    module(torch.randn(2, 3, 8, 32, 32))
    assert torch.equal(bn.running_mean, before) and not bn.training
    assert module.net.dropout.training  # only the norms are held in eval mode


def test_rng_states_roundtrip_through_weights_only_load(tmp_path):
    import random

    import numpy as np

    states = capture_rng_states()
    torch.save(states, tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng_states(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1]) and random.random() == expected[2]


def test_cpu_threads_leave_cores_to_workers(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)))
    assert cpu_threads(num_workers=2) == 6
    assert cpu_threads(num_workers=2, processes=2) == 2
    assert cpu_threads(num_workers=12) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert cpu_threads(num_workers=2) is None
