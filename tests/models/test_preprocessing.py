"""Preprocessing: the normalisation each value range implies, and the round trip through JSON."""

from __future__ import annotations

import json

import torch

from a2video.models.preprocessing import IMAGENET, KINETICS_SLOWFAST, MMACTION2_IMAGENET, Preprocessing


def test_normalize_on_each_value_range():
    pixels = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 3, 1, 1, 1).repeat(1, 1, 1, 1, 1)
    raw = pixels.float().flatten()
    mm = MMACTION2_IMAGENET.normalize(pixels).flatten()  # mmaction2: raw [0, 255] pixels
    expected = (raw - torch.tensor(MMACTION2_IMAGENET.mean)) / torch.tensor(MMACTION2_IMAGENET.std)
    torch.testing.assert_close(mm, expected)
    sf = KINETICS_SLOWFAST.normalize(pixels).flatten()
    torch.testing.assert_close(sf, (raw / 255 - 0.45) / 0.225)


def test_json_round_trip_and_unknown_keys():
    values = json.loads(KINETICS_SLOWFAST.with_clip(num_frames=16).to_json())
    values["added_later"] = 1
    restored = Preprocessing.from_dict(values)
    assert restored == KINETICS_SLOWFAST.with_clip(num_frames=16) and restored.clip_known
    assert not IMAGENET.clip_known and IMAGENET.with_clip(num_frames=4).clip_known
