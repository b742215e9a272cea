"""Other toolkits' checkpoints: each written in that project's own layout and names from a random
model of ours (the renaming tables below are the test's own, written from the projects' naming),
loaded back by the weight reader and compared by eval logits; and pytorchvideo's own ResNet code,
which no one here wrote, renamed and compared the same way."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from a2video.errors import WeightsError
from a2video.models import create_model
from a2video.models.preprocessing import KINETICS_SLOWFAST, MMACTION2_IMAGENET
from a2video.models.weights import load_weights
from weights_layouts import to_caffe2, to_mmaction2, to_pyslowfast, to_pytorchvideo


def _perturbed(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights, BatchNorm statistics and affine parameters (so a swapped tensor shows), eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            noise = torch.randn(tensor.shape, generator=generator)
            if tensor.dim() > 1:  # conv / linear weights, scaled by fan-in so activations stay finite
                tensor.copy_(noise / tensor[0].numel() ** 0.5)
            elif name.endswith("running_var"):
                tensor.copy_(noise.abs() + 0.5)
            elif name.endswith("weight"):
                tensor.copy_(1.0 + 0.2 * noise)
            else:  # biases, running means
                tensor.copy_(0.2 * noise)
    return model.eval()


def _logits(model: nn.Module, clip: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(clip)


def _clip(frames=4, size=32, seed=1) -> torch.Tensor:
    return torch.randn((2, 3, frames, size, size), generator=torch.Generator().manual_seed(seed))


def _close(a: torch.Tensor, b: torch.Tensor, rtol=1e-5) -> None:
    err = ((a - b).abs().max() / b.abs().max()).item()
    assert err < rtol, err


# --------------------------------------------------------------- pytorchvideo
def test_pytorchvideo_layout_gives_the_same_logits(tmp_path):
    i3d = _perturbed(create_model("i3d_r50", num_classes=5, base_width=4), seed=3)
    path = tmp_path / "I3D_8x8_R50.pyth"
    torch.save({"model_state": {to_pytorchvideo(k): v for k, v in i3d.state_dict().items()}, "epoch": 196}, path)
    target = create_model("i3d_r50", num_classes=5, base_width=4)
    report = load_weights(target, path)
    assert report.format == "pytorchvideo model zoo checkpoint"
    assert report.preprocessing == KINETICS_SLOWFAST
    assert not report.new and not report.left_out
    _close(_logits(target, _clip()), _logits(i3d, _clip()))
    # An A² model takes the same file: blocks new (identity), so the logits are still the I3D's.
    a2net = create_model("a2net_r50", num_classes=5, base_width=4)
    report = load_weights(a2net, path)
    assert set(report.new) == a2net.attention_state_names()
    _close(_logits(a2net, _clip()), _logits(i3d, _clip()))


def test_pytorchvideo_missing_tensor_is_named(tmp_path):
    model = create_model("i3d_r50", num_classes=5, base_width=4)
    state = {to_pytorchvideo(k): v for k, v in model.state_dict().items()}
    del state["blocks.4.res_blocks.2.branch2.conv_b.weight"]
    path = tmp_path / "cut.pyth"
    torch.save({"model_state": state}, path)
    with pytest.raises(WeightsError, match=r"missing \(1\): layer3\.2\.conv2\.weight"):
        load_weights(create_model("i3d_r50", num_classes=5, base_width=4), path)


def _pytorchvideo_resnet(width: int, classes: int, head_pool: tuple[int, int, int]) -> nn.Module:
    resnet = pytest.importorskip("pytorchvideo.models.resnet", reason="pytorchvideo is not installed")
    return resnet.create_resnet(
        input_channel=3, model_depth=50, model_num_class=classes, dropout_rate=0.5, norm=nn.BatchNorm3d,
        activation=nn.ReLU, stem_dim_out=width, stem_conv_kernel_size=(5, 7, 7), stem_conv_stride=(1, 2, 2),
        stem_pool=nn.MaxPool3d, stem_pool_kernel_size=(1, 3, 3), stem_pool_stride=(1, 2, 2),
        stage1_pool=nn.MaxPool3d, stage1_pool_kernel_size=(2, 1, 1),
        stage_conv_a_kernel_size=((3, 1, 1), [(3, 1, 1), (1, 1, 1)], [(3, 1, 1), (1, 1, 1)],
                                  [(1, 1, 1), (3, 1, 1)]),
        head_pool=nn.AvgPool3d, head_pool_kernel_size=head_pool, head_activation=None,
    )


def test_pytorchvideo_create_resnet_renamed_gives_our_logits(tmp_path):
    theirs = _perturbed(_pytorchvideo_resnet(width=8, classes=6, head_pool=(2, 2, 2)), seed=5)
    path = tmp_path / "theirs.pyth"
    torch.save({"model_state": theirs.state_dict()}, path)
    ours = create_model("i3d_r50", num_classes=6, base_width=8)
    load_weights(ours, path)
    clip = _clip(frames=4, size=64)
    _close(_logits(ours, clip), _logits(theirs, clip), rtol=1e-6)


def test_pytorchvideo_i3d_r50_full_size(tmp_path):
    """pytorchvideo's own i3d_r50 (the zoo architecture, random weights): the issue's 3e-7 check."""
    hub = pytest.importorskip("pytorchvideo.models.hub", reason="pytorchvideo is not installed")
    theirs = _perturbed(hub.i3d_r50(pretrained=False), seed=7)
    path = tmp_path / "I3D_8x8_R50.pyth"
    torch.save({"model_state": theirs.state_dict()}, path)
    ours = create_model("i3d_r50", num_classes=400)
    load_weights(ours, path)
    clip = _clip(frames=8, size=224)[:1]
    _close(_logits(ours, clip), _logits(theirs, clip), rtol=1e-6)


# --------------------------------------------------------------- PySlowFast
def _biased_nonlocal(model: nn.Module, seed: int) -> nn.Module:
    """PySlowFast's non-local convolutions all have biases: give ours some, as a reference network."""
    generator = torch.Generator().manual_seed(seed)
    reference = copy.deepcopy(model)
    for name, module in reference.named_modules():
        if name.endswith(".attention"):
            for attr in ("phi", "g", "proj"):
                old = getattr(module, attr)
                new = nn.Conv3d(old.in_channels, old.out_channels, 1, bias=True)
                with torch.no_grad():
                    new.weight.copy_(old.weight)
                    new.bias.copy_(torch.randn(old.out_channels, generator=generator) * 0.5)
                setattr(module, attr, new)
    return reference.eval()


def test_pyslowfast_nonlocal_checkpoint_into_nl_r50(tmp_path):
    reference = _biased_nonlocal(_perturbed(create_model("nl_r50", num_classes=5, base_width=8), seed=2), seed=4)
    path = tmp_path / "I3D_NLN_8x8_R50.pyth"
    state = {to_pyslowfast(k): v for k, v in reference.state_dict().items()}
    assert "s3.pathway0_nonlocal1.conv_g.bias" in state and "s4.pathway0_nonlocal5.bn.running_var" in state
    torch.save({"model_state": state, "epoch": 196, "cfg": "NONLOCAL:\n  INSTANTIATION: softmax\n"}, path)
    target = create_model("nl_r50", num_classes=5, base_width=8)
    report = load_weights(target, path)
    assert report.format == "PySlowFast checkpoint"
    assert "layer2.1.attention.g.bias" in report.left_out and "layer3.5.attention.proj.bias" in report.left_out
    clip = _clip(frames=4, size=64)
    _close(_logits(target, clip), _logits(reference, clip))


def test_pyslowfast_nonlocal_needs_nl_blocks_and_softmax(tmp_path):
    reference = _perturbed(create_model("nl_r50", num_classes=5, base_width=8))
    path = tmp_path / "nln.pyth"
    state = {to_pyslowfast(k): v for k, v in reference.state_dict().items()}
    torch.save({"model_state": state}, path)
    with pytest.raises(WeightsError, match=r"non-local block after layer2\.1.*nl_r50"):
        load_weights(create_model("i3d_r50", num_classes=5, base_width=8), path)
    torch.save({"model_state": state, "cfg": "NONLOCAL:\n  INSTANTIATION: dot_product\n"}, path)
    with pytest.raises(WeightsError, match="INSTANTIATION=dot_product"):
        load_weights(create_model("nl_r50", num_classes=5, base_width=8), path)


def test_pyslowfast_caffe2_pickle(tmp_path):
    reference = _perturbed(create_model("i3d_r50", num_classes=5, base_width=4), seed=9)
    blobs = {to_caffe2(k): v.numpy() for k, v in reference.state_dict().items() if to_caffe2(k)}
    blobs["conv1_w_momentum"] = np.zeros_like(blobs["conv1_w"])  # optimiser state kept in the zoo files
    blobs["lr"] = np.array([0.1], dtype=np.float32)
    path = tmp_path / "I3D_8x8_R50.pkl"
    with open(path, "wb") as f:
        pickle.dump({"blobs": blobs}, f, protocol=2)
    target = create_model("i3d_r50", num_classes=5, base_width=4)
    report = load_weights(target, path)
    assert report.format == "PySlowFast Caffe2 checkpoint (.pkl)"
    _close(_logits(target, _clip()), _logits(reference, _clip()))


def test_caffe2_pickle_with_code_is_refused(tmp_path):
    path = tmp_path / "evil.pkl"
    with open(path, "wb") as f:
        pickle.dump({"blobs": {"conv1_w": np.zeros(3)}, "x": copy.deepcopy}, f, protocol=2)
    with pytest.raises(WeightsError, match=f"cannot read weights file {path}"):
        load_weights(create_model("i3d_r50", num_classes=5, base_width=4), path)


# --------------------------------------------------------------- mmaction2
def _mmaction2_file(model: nn.Module, path, config: str | None) -> None:
    checkpoint = {"state_dict": {to_mmaction2(k): v for k, v in model.state_dict().items()}}
    if config is not None:
        checkpoint["meta"] = {"cfg": config}
    torch.save(checkpoint, path)


def test_mmaction2_with_our_temporal_layout_loads(tmp_path):
    reference = _perturbed(create_model("i3d_r50", num_classes=5, base_width=4), seed=11)
    path = tmp_path / "i3d_mm.pth"
    _mmaction2_file(reference, path, "model = dict(backbone=dict(type='ResNet3d', conv1_stride_t=1, "
                                     "pool1_stride_t=1, with_pool2=True, conv1_kernel=(5, 7, 7)))")
    target = create_model("i3d_r50", num_classes=5, base_width=4)
    report = load_weights(target, path)
    assert report.format == "mmaction2 checkpoint" and report.preprocessing == MMACTION2_IMAGENET
    _close(_logits(target, _clip()), _logits(reference, _clip()))


def test_mmaction2_32x2_variant_is_refused_with_the_first_difference(tmp_path):
    path = tmp_path / "i3d_r50_32x2x1.pth"
    _mmaction2_file(create_model("i3d_r50", num_classes=5, base_width=4), path, None)
    with pytest.raises(WeightsError) as info:
        load_weights(create_model("i3d_r50", num_classes=5, base_width=4), path)
    message = str(info.value)
    assert "conv1_stride_t=2" in message and "conv1_stride_t=1" in message and "no config" in message
    assert "\n" not in message
