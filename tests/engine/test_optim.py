"""Learning-rate schedule, linear scaling, parameter groups, fine-tuning weight loading."""

import math
from types import SimpleNamespace

import pytest
import torch

from a2video.engine.finetune import load_backbone_weights
from a2video.engine.module import VideoClassifier, capture_rng_states, make_schedule, restore_rng_states
from a2video.errors import A2VideoError
from a2video.models import create_model


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
    groups = {g["name"]: g for g in module.parameter_groups(base_lr=0.1)}
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
    module = _module(lr=0.01, reference_batch_size=64)
    trainer = SimpleNamespace(datamodule=SimpleNamespace(batch_size=16), world_size=8, accumulate_grad_batches=2)
    module._trainer = trainer  # only the attributes effective_lr reads
    assert module.effective_lr() == pytest.approx(0.01 * 256 / 64)


def test_freeze_bn_stats_keeps_running_statistics():
    module = _module(freeze_bn_stats=True).train()
    bn = module.net.bn1
    before = bn.running_mean.clone()
    module(torch.randn(2, 3, 8, 32, 32))
    assert torch.equal(bn.running_mean, before) and not bn.training
    assert module.net.dropout.training  # only the norms are held in eval mode


def test_finetune_replaces_head_and_keeps_backbone(tmp_path):
    source = create_model("a2net_r26", num_classes=10, base_width=4)
    torch.nn.init.normal_(source.layer3[1].attention.norm.weight)
    path = tmp_path / "kinetics.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in source.state_dict().items()}, "epoch": 3}, path)
    target = create_model("a2net_r26", num_classes=4, base_width=4)
    fresh_head = target.fc.weight.clone()
    summary = load_backbone_weights(target, path)
    assert "new classifier" in summary
    assert torch.equal(target.layer3[1].attention.norm.weight, source.layer3[1].attention.norm.weight)
    assert torch.equal(target.fc.weight, fresh_head)


def test_i3d_checkpoint_into_a2net_leaves_blocks_at_identity(tmp_path):
    path = tmp_path / "i3d.pth"
    torch.save(create_model("i3d_r26", num_classes=4, base_width=4).state_dict(), path)
    target = create_model("a2net_r26", num_classes=4, base_width=4)
    assert "attention tensors left at identity" in load_backbone_weights(target, path)


def test_finetune_errors(tmp_path):
    target = create_model("a2net_r26", num_classes=4, base_width=4)
    with pytest.raises(A2VideoError, match="checkpoint not found: .*missing.ckpt"):
        load_backbone_weights(target, tmp_path / "missing.ckpt")
    path = tmp_path / "wide.pth"
    torch.save(create_model("a2net_r26", num_classes=4, base_width=8).state_dict(), path)
    with pytest.raises(A2VideoError, match="does not fit .*shape mismatch"):
        load_backbone_weights(target, path)


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
    from a2video.engine.module import cpu_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)))
    assert cpu_threads(num_workers=2) == 6
    assert cpu_threads(num_workers=2, processes=2) == 2
    assert cpu_threads(num_workers=12) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert cpu_threads(num_workers=2) is None
