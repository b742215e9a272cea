"""Test outputs collected per process: one logits array, list order, each index once."""

from types import SimpleNamespace

import numpy as np
import torch

from a2video.engine.evaluate import TestOutputs


def _batches(indices, views=3, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    for chunk in indices:
        n = len(chunk)
        yield {"index": torch.tensor(chunk), "label": torch.tensor([i % classes for i in chunk]),
               "ok": torch.tensor([i != 5 for i in chunk]),
               "error": ["" if i != 5 else "broken" for i in chunk],
               "logits": torch.from_numpy(rng.normal(size=(n, views, classes)).astype(np.float32))}


def _collect(capacity, chunks):
    outputs = TestOutputs(capacity)
    batches = list(_batches(chunks))
    for batch in batches:
        outputs.add(**batch)
    return outputs, batches


def test_in_order_outputs_are_returned_without_a_copy():
    outputs, batches = _collect(8, [[0, 1, 2], [3, 4, 5], [6, 7]])
    got = outputs.gather(SimpleNamespace(world_size=1))
    assert np.shares_memory(got["logits"], outputs.logits)
    np.testing.assert_array_equal(got["logits"], torch.cat([b["logits"] for b in batches]).numpy())
    assert got["index"].tolist() == list(range(8)) and got["error"][5] == "broken" and not got["ok"][5]


def test_growing_out_of_order_and_repeated_indices():
    # No capacity given (the array grows), indices out of order, one video seen twice (a padding sampler).
    outputs, batches = _collect(None, [[4, 0], [2, 1], [3, 0]])
    assert outputs.logits.shape[0] >= 6
    got = outputs.gather(SimpleNamespace(world_size=1))
    assert got["index"].tolist() == [0, 1, 2, 3, 4]
    first_zero = batches[0]["logits"][1].numpy()  # the first copy of video 0 is kept
    np.testing.assert_array_equal(got["logits"][0], first_zero)
    np.testing.assert_array_equal(got["logits"][4], batches[0]["logits"][0].numpy())
    assert got["label"].tolist() == [0, 1, 2, 3, 0]


def test_nothing_scored_is_none():
    assert TestOutputs(3).gather(SimpleNamespace(world_size=1)) is None
