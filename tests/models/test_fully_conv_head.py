"""The fully convolutional test head (PySlowFast's ``ResNetBasicHead`` at test time).

Expected values are computed here by hand: every window of a training clip's feature size is cut out
of the feature map with slicing, averaged, classified and softmaxed, and the softmaxes averaged.
"""

import itertools

import pytest
import torch

from a2video.models import create_model

TRAIN_CLIP = (8, 64, 64)


def _pair(name: str = "a2net_r26"):
    """The same weights twice: global pooling, and the fully convolutional test head."""
    torch.manual_seed(0)
    plain = create_model(name, num_classes=5, base_width=4, dropout=0.5).eval()
    fully_conv = create_model(name, num_classes=5, base_width=4, dropout=0.5, fully_conv_clip=TRAIN_CLIP).eval()
    fully_conv.load_state_dict(plain.state_dict())
    return plain, fully_conv


@pytest.mark.parametrize("clip", [TRAIN_CLIP, (8, 48, 64), (4, 64, 64)], ids=["training size", "narrower", "shorter"])
def test_equal_to_global_pooling_up_to_the_training_size(clip):
    plain, fully_conv = _pair()
    x = torch.randn(2, 3, *clip)
    with torch.no_grad():
        assert torch.equal(fully_conv(x), plain(x))


def test_larger_clips_average_the_softmax_of_every_window():
    plain, fully_conv = _pair("i3d_r50")
    x = torch.randn(2, 3, 16, 96, 64)  # twice the training length, 1.5 times its height
    with torch.no_grad():
        window = plain.forward_features(torch.zeros(1, 3, *TRAIN_CLIP)).shape[2:]  # (t, h, w) of a training clip
        features = plain.forward_features(x)  # (N, F, t', h', w')
        starts = [range(n - w + 1) for n, w in zip(features.shape[2:], window)]
        probs = []
        for t, h, w in itertools.product(*starts):
            pooled = features[:, :, t : t + window[0], h : h + window[1], w : w + window[2]].mean(dim=(2, 3, 4))
            probs.append(torch.softmax(plain.fc(pooled), dim=1))  # (N, K)
        expected = torch.stack(probs).mean(0)
        output = fully_conv(x)
    assert len(probs) == 5 * 2 * 1  # 4x2x2 windows slide over 8x3x2 features
    torch.testing.assert_close(output.exp(), expected, rtol=1e-5, atol=1e-6)
    # Its softmax is the averaged probabilities, so multi-view softmax averaging is unchanged.
    torch.testing.assert_close(torch.softmax(output, 1), expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(torch.softmax(plain(x), 1), expected, atol=1e-4), "global pooling differs"


def test_training_pools_globally_and_features_are_unchanged():
    plain, fully_conv = _pair()
    plain.dropout.p = fully_conv.dropout.p = 0.0
    x = torch.randn(2, 3, 8, 96, 64)
    plain.train(), fully_conv.train()
    torch.manual_seed(1)
    expected = plain(x)
    torch.manual_seed(1)
    assert torch.equal(fully_conv(x), expected)
    fully_conv.eval()
    with torch.no_grad():
        features = fully_conv.forward_features(x)
        assert torch.equal(fully_conv.forward_head(features, pre_logits=True), features.mean(dim=(2, 3, 4)))


@pytest.mark.parametrize("name", ["i3d_r50", "a2net_r26"])
@pytest.mark.parametrize("clip", [(8, 224, 224), (5, 100, 130)])
def test_feature_size_matches_the_network(name, clip):
    model = create_model(name, num_classes=3, base_width=1).eval()
    with torch.no_grad():
        shape = model.forward_features(torch.zeros(1, 3, *clip)).shape[2:]
    assert model.feature_size(clip) == tuple(shape)


def test_i3d_r50_windows_at_the_reference_test_size():
    model = create_model("i3d_r50", num_classes=3, base_width=2, fully_conv_clip=(8, 224, 224))
    assert model.fully_conv_window == (4, 7, 7)  # PySlowFast: NUM_FRAMES // 2, TRAIN_CROP_SIZE // 32
    assert model.feature_size((8, 256, 256)) == (4, 8, 8)  # so 1 x 2 x 2 windows at 256^2


def test_bad_training_clip():
    with pytest.raises(ValueError, match="fully_conv_clip"):
        create_model("i3d_r26", num_classes=3, base_width=2, fully_conv_clip=(224, 224))
