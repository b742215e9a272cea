"""`a2video explain` on tiny models: the captured maps are the layers' own softmaxes (recomputed
here from the blocks' inputs), they sum to one over positions, and the command writes its files."""

from __future__ import annotations

import argparse
import json

import av
import numpy as np
import pytest
import torch

from a2video.data.encoding import write_video
from a2video.errors import A2VideoError, ConfigError
from a2video.evaluation.attention_capture import capture_attention
from a2video.evaluation.attention_render import overlay
from a2video.commands.explain import configure_explain, run_explain
from a2video.layers import DoubleAttention3d, NonLocal3d
from a2video.models import create_model
from a2video.models.preprocessing import IMAGENET

CLASSES = ["left", "right", "up", "down", "still"]


def block_inputs(model: torch.nn.Module, kind: type, clip: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each block's input, captured by a hook of the test's own."""
    seen, handles = {}, []
    for name, module in model.named_modules():
        if isinstance(module, kind):
            handles.append(module.register_forward_hook(
                lambda m, inputs, out, name=name: seen.__setitem__(name, inputs[0].detach().clone())))
    with torch.no_grad():
        model(clip)
    for handle in handles:
        handle.remove()
    return seen


@torch.no_grad()
def test_double_attention_maps_are_the_gathering_softmax_ranked_by_usage():
    torch.manual_seed(0)
    model = create_model("a2net_r26", num_classes=5, base_width=4).eval()
    clip = torch.randn(1, 3, 8, 32, 32)
    inputs = block_inputs(model, DoubleAttention3d, clip)
    logits, blocks = capture_attention(model, clip, top=3)
    assert torch.equal(logits, model(clip)[0])  # the hooks change nothing
    assert [b.name for b in blocks] == list(inputs) == ["layer2.1.attention", "layer3.1.attention"]
    assert [b.title for b in blocks] == ["res3.1", "res4.1"]
    for block in blocks:
        x = inputs[block.name].double()
        module = model.get_submodule(block.name)
        gather = torch.softmax(module.theta.double()(x).flatten(2), dim=2)[0]  # (n, L) over positions
        usage = torch.softmax(module.rho.double()(x).flatten(2), dim=1)[0].mean(dim=1)  # (n,)
        n, d, h, w = module.n, *x.shape[2:]
        assert block.shape == (d, h, w) and block.gather.shape == (n, d * h * w)
        np.testing.assert_allclose(block.gather, gather.numpy(), rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(block.gather.sum(axis=1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(block.usage, usage.numpy(), rtol=1e-4)
        assert block.usage.sum() == pytest.approx(1.0, rel=1e-5)
        order = np.argsort(-usage.numpy())[:3]
        assert block.maps.shape == (3, d, h, w)
        np.testing.assert_allclose(block.maps, gather.numpy()[order].reshape(3, d, h, w), rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(block.maps.sum(axis=(1, 2, 3)), 1.0, rtol=1e-5)
        assert block.labels[0].startswith(f"map {order[0]},")


@torch.no_grad()
def test_non_local_rows_are_the_attention_of_the_query_positions():
    torch.manual_seed(1)
    model = create_model("nl_r50", num_classes=5, base_width=4).eval()
    clip = torch.randn(1, 3, 8, 64, 64)
    inputs = block_inputs(model, NonLocal3d, clip)
    _, blocks = capture_attention(model, clip, queries=3)
    assert len(blocks) == 5 and all(b.kind == "non_local" for b in blocks)
    for block in blocks:
        x = inputs[block.name].double()
        module = model.get_submodule(block.name).double()
        theta = module.theta(x).flatten(2)[0]  # (ci, L)
        source = module.pool(x)
        phi = module.phi(source).flatten(2)[0]  # (ci, Ls), h and w halved by the subsampling
        full = torch.softmax(theta.T @ phi / module.inner_channels**0.5, dim=1)  # (L, Ls)
        d, h, w = x.shape[2:]
        assert block.shape == tuple(source.shape[2:]) == (d, h // 2, w // 2)
        assert block.queries.shape == (3, 3) and (block.queries[:, 0] == d // 2).all()
        flat = [t * h * w + y * w + xx for t, y, xx in block.queries]
        np.testing.assert_allclose(block.maps.reshape(3, -1), full[flat].numpy(), rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(block.maps.sum(axis=(1, 2, 3)), 1.0, rtol=1e-5)
        module.float()


def test_overlay_puts_the_heat_where_the_map_is():
    frames = np.full((4, 32, 32, 3), 128, np.uint8)
    volume = np.zeros((2, 4, 4))
    volume[0, 0, 0] = 1.0  # first half of the clip, top-left corner
    out = overlay(frames, volume).astype(int) - 128
    change = np.abs(out).sum(axis=3)  # (T, H, W)
    assert out.shape == (4, 32, 32, 3)
    assert change[0, :8, :8].mean() > 5 * change[0, 16:, 16:].mean()
    assert change[0, :8, :8].mean() > 5 * change[3, :8, :8].mean()


@pytest.fixture()
def tiny_run(tmp_path):
    torch.manual_seed(2)
    frames = np.zeros((40, 40, 56, 3), np.uint8)
    for t in range(40):
        frames[t, 10:26, t:t + 12] = (255, 200, 0)
    video = write_video(tmp_path / "clip.mp4", frames)
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    model = create_model("a2net_r26", num_classes=5, base_width=4)
    # As a run saves it: the network, and the preprocessing and class names it was trained with.
    preprocessing = IMAGENET.with_clip(num_frames=8, sampling_rate=3, crop_size=32, test_short_side=32,
                                       test_crop_size=32)
    checkpoint = {
        "state_dict": {f"net.{k}": v for k, v in model.state_dict().items()},
        "pytorch-lightning_version": "2.6.0",
        "hyper_parameters": {"model": "a2net_r26", "base_width": 4, "dropout": 0.3, "model_kwargs": None,
                             "num_classes": 5},
        "a2video": {"preprocessing": preprocessing.to_dict(), "class_names": list(CLASSES)},
    }
    torch.save(checkpoint, tmp_path / "last.ckpt")
    return tmp_path, video, model


def explain(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="a2video explain")
    configure_explain(parser)
    run_explain(parser.parse_args(argv))


def test_explain_command_writes_video_grids_and_json(tiny_run, capsys):
    folder, video, model = tiny_run
    explain([str(video), "--ckpt", str(folder / "last.ckpt"), "--out", str(folder / "out"), "--top", "2"])
    out = folder / "out"
    summary = json.loads((out / "explain.json").read_text())
    assert summary["frames"] == [8, 32, 32]
    assert [b["title"] for b in summary["blocks"]] == ["res3.1", "res4.1"]
    assert all(len(b["shown"]) == 2 and sum(b["usage"]) == pytest.approx(1, rel=1e-5) for b in summary["blocks"])
    top5 = summary["top5"]
    assert {t["name"] for t in top5} == set(CLASSES)  # names from the classes file beside the lists
    assert sum(t["probability"] for t in top5) == pytest.approx(1.0)
    assert top5[0]["name"] in capsys.readouterr().out
    for name in ("attention_res3.1.png", "attention_res4.1.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    with av.open(str(out / "attention.mp4")) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 8 and len({f.shape for f in decoded}) == 1
    assert not list(out.glob(".*.tmp"))


def test_explain_errors_are_one_line(tiny_run, tmp_path):
    folder, video, _ = tiny_run
    with pytest.raises(A2VideoError, match="video not found"):
        explain([str(folder / "nope.mp4"), "--ckpt", str(folder / "last.ckpt")])
    (folder / "broken.mp4").write_bytes(b"\0" * 100)
    with pytest.raises(A2VideoError, match="cannot decode .*broken.mp4"):
        explain([str(folder / "broken.mp4"), "--ckpt", str(folder / "last.ckpt"), "--out", str(folder / "o")])
    (folder / "bad.ckpt").write_bytes(b"garbage")
    with pytest.raises(A2VideoError, match="cannot read checkpoint|is not a checkpoint"):
        explain([str(video), "--ckpt", str(folder / "bad.ckpt")])
    torch.save(create_model("i3d_r26", num_classes=5, base_width=4).state_dict(), folder / "plain.pt")
    with pytest.raises(A2VideoError, match="plain.pt does not fit"):  # a plain state dict defaults to i3d_r50
        explain([str(video), "--ckpt", str(folder / "plain.pt")])
    with pytest.raises(A2VideoError, match="no double-attention or non-local block"):
        explain([str(video), "--ckpt", str(folder / "plain.pt"), "--model", "i3d_r26", "--out", str(folder / "o")])
    torch.save(create_model("a2net_r26", num_classes=5, base_width=4).state_dict(), folder / "a2net.pt")
    with pytest.raises(A2VideoError, match=r"a2net.pt does not fit .*not in the model"):
        explain([str(video), "--ckpt", str(folder / "a2net.pt"), "--model", "i3d_r26"])
    with pytest.raises(ConfigError):
        explain([str(video), "--ckpt", str(folder / "last.ckpt"), "--clip", "2", "--clips", "2"])
