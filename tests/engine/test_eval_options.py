"""Evaluation settings that differ from training: fp32 evaluation under bf16 training, and the fully
convolutional test head reached from a config (its arithmetic: tests/models/test_fully_conv_head.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from a2video.engine.lightning_cli import parse_config
from a2video.engine.module import VideoClassifier
from a2video.errors import A2VideoError, ConfigError
from engine_helpers import run_ok, tiny_config, write_config


def _tiny_classifier(**kwargs) -> VideoClassifier:
    torch.manual_seed(0)
    model = VideoClassifier(model="i3d_r26", base_width=4, num_classes=5, dropout=0.0, **kwargs)
    model.build(5, load_initial_weights=False)
    return model.eval()


def test_evaluation_is_fp32_inside_bf16_training_precision():
    model = _tiny_classifier()
    videos = torch.randn(2, 3, 3, 4, 32, 32)  # (N, V, C, T, H, W)
    with torch.no_grad():
        fp32 = model.net(videos.flatten(0, 1)).view(2, 3, -1)
        with torch.autocast("cpu", dtype=torch.bfloat16):  # what trainer.precision bf16-mixed wraps steps in
            bf16 = model.net(videos.flatten(0, 1)).float().view(2, 3, -1)
            default = model._view_logits(videos)
            model.hparams.eval_precision = "train"
            as_training = model._view_logits(videos)
        model.hparams.eval_precision = "bf16-mixed"
        chosen_bf16 = model._view_logits(videos)
    assert not torch.allclose(bf16, fp32, atol=1e-4), "bf16 must differ for this test to mean anything"
    assert torch.equal(default, fp32)
    assert torch.equal(as_training, bf16)
    assert torch.equal(chosen_bf16, bf16)


def test_fp32_evaluation_of_low_precision_weights_is_refused():
    model = _tiny_classifier()
    model.net.to(torch.bfloat16)  # trainer.precision bf16-true
    with pytest.raises(ConfigError, match="eval_precision: train"):
        model._view_logits(torch.randn(1, 1, 3, 4, 32, 32))
    model.hparams.eval_precision = "train"
    assert model._view_logits(torch.randn(1, 1, 3, 4, 32, 32).bfloat16()).shape == (1, 1, 5)


def test_fully_conv_needs_the_training_clip_which_the_cli_links_from_data(synthetic, tmp_path):
    with pytest.raises(A2VideoError, match="train_clip"):
        _tiny_classifier(test_head="fully_conv")
    model = _tiny_classifier(test_head="fully_conv", train_clip=(4, 32, 32))
    assert model.net.fully_conv_window == model.net.feature_size((4, 32, 32))
    config = write_config(tmp_path / "c.yaml", tiny_config(synthetic.source, tmp_path / "run"))
    parsed = parse_config(["test", "--config", str(config), "--data.crop_size", "24", "--data.num_frames", "6"])
    assert tuple(parsed.model.train_clip) == (6, 24, 24)


def test_bf16_run_tests_in_fp32_and_fully_conv_equals_pooling_at_the_training_size(source_run, tmp_path):
    """The session's run tested in fp32 with global pooling; bf16 training precision with the
    defaults gives its logits again, and so does the fully convolutional head at 32^2 = the training crop."""
    reference = np.load(source_run.dir / "test" / "view_logits.npz")["logits"]
    bf16 = tmp_path / "bf16"
    run_ok("test", "--config", source_run.config, "--ckpt_path", source_run.last, "--model.eval_dir", bf16,
           "--trainer.default_root_dir", tmp_path / "run", "--trainer.precision", "bf16-mixed",
           "--model.test_head", "fully_conv")
    # Not bit for bit: each run sizes its compute threads to the cores free at its start
    # (a2video.threads), and another thread count sums in another order (a few 1e-8); bf16
    # evaluation would be orders of magnitude further off.
    np.testing.assert_allclose(np.load(bf16 / "view_logits.npz")["logits"], reference, rtol=0, atol=1e-6)
