"""compute_metrics against expected values computed independently (by hand or with plain loops)."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest
import torch

from a2video.evaluation import metrics as metrics_module
from a2video.evaluation.metrics import compute_metrics, softmax


def reference(view_logits: np.ndarray, labels, ok, aggregate: str) -> dict:
    """Plain-Python re-implementation of the protocol (SPEC §4), one loop per definition."""
    n, v, k = view_logits.shape
    kk = min(5, k)

    def ranked(scores):  # descending, ties to the lower class index
        return sorted(range(k), key=lambda c: (-scores[c], c))

    def probs(row):
        m = max(row)
        e = [math.exp(x - m) for x in row]
        return [x / sum(e) for x in e]

    clip1 = clip5 = vid1 = vid5 = 0
    per_class = defaultdict(list)
    preds, tops, scores = [], [], []
    confusion = [[0] * k for _ in range(k)]
    for i in range(n):
        y = int(labels[i])
        if not ok[i]:
            per_class[y].append(False)
            preds.append(-1), tops.append(None), scores.append(None)
            continue
        rows = [[float(x) for x in view_logits[i, j]] for j in range(v)]
        for row in rows:
            order = ranked(row)
            clip1 += order[0] == y
            clip5 += y in order[:kk]
        if aggregate == "softmax":
            agg = [sum(probs(r)[c] for r in rows) / v for c in range(k)]
            shown = agg
        else:
            agg = [sum(r[c] for r in rows) / v for c in range(k)]
            shown = probs(agg)
        order = ranked(agg)
        vid1 += order[0] == y
        vid5 += y in order[:kk]
        per_class[y].append(order[0] == y)
        preds.append(order[0]), tops.append(order[:kk]), scores.append([shown[c] for c in order[:kk]])
        confusion[y][order[0]] += 1
    return {
        "clip_top1": 100 * clip1 / (n * v),
        "clip_top5": 100 * clip5 / (n * v),
        "video_top1": 100 * vid1 / n,
        "video_top5": 100 * vid5 / n,
        "mean_class_accuracy": 100 * sum(sum(c) / len(c) for c in per_class.values()) / len(per_class),
        "predictions": preds,
        "tops": tops,
        "scores": scores,
        "confusion": confusion,
    }


def check_against_reference(view_logits, labels, ok, aggregate):
    got = compute_metrics(view_logits, labels, ok, aggregate)
    want = reference(view_logits, labels, ok, aggregate)
    for key in ("clip_top1", "clip_top5", "video_top1", "video_top5", "mean_class_accuracy"):
        assert getattr(got, key) == pytest.approx(want[key], abs=1e-9), key
    assert got.predictions.tolist() == want["predictions"]
    for i, top in enumerate(want["tops"]):
        if top is None:
            assert (got.topk_classes[i] == -1).all() and np.isnan(got.topk_scores[i]).all()
        else:
            assert got.topk_classes[i].tolist() == top
            np.testing.assert_allclose(got.topk_scores[i], want["scores"][i], rtol=1e-9)
    assert got.confusion.tolist() == want["confusion"]
    return got


def test_hand_checked_case():
    # 3 videos x 2 views x 3 classes; expected values worked out by hand in the comments.
    view_logits = np.array(
        [
            [[5.0, 0.0, 0.0], [0.0, 5.0, 0.0]],  # label 0: view tops 0 | 1; mean probs tie 0=1 -> class 0
            [[0.0, 0.0, 4.0], [0.0, 0.0, 3.0]],  # label 1: both views top 2 -> video wrong
            [[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]],  # label 1: views top 2 | 0; mean probs -> class 0 or 2 tie -> 0
        ]
    )
    labels = np.array([0, 1, 1])
    ok = np.array([True, True, True])
    r = compute_metrics(view_logits, labels, ok)
    assert r.clip_top1 == pytest.approx(100 * 1 / 6)  # only video 0 view 0
    assert r.clip_top5 == pytest.approx(100.0)  # top-3 of 3 classes always holds the label
    assert r.video_top1 == pytest.approx(100 / 3)  # video 0 only
    assert r.mean_class_accuracy == pytest.approx(50.0)  # class 0: 1/1, class 1: 0/2
    assert r.predictions.tolist() == [0, 2, 0]
    assert r.top_k == 3 and r.num_classes == 3 and r.views_per_video == 2 and r.num_videos == 3
    assert r.confusion.tolist() == [[1, 0, 0], [1, 0, 1], [0, 0, 0]]


@pytest.mark.parametrize("aggregate", ["softmax", "logits"])
@pytest.mark.parametrize("num_classes", [2, 3, 7, 12])
def test_random_against_plain_loops(aggregate, num_classes):
    rng = np.random.default_rng(num_classes)
    n, v = 40, 5
    labels = rng.integers(0, num_classes, n)
    view_logits = rng.normal(size=(n, v, num_classes)) * 2
    view_logits[np.arange(n), :, labels] += rng.normal(1.0, 1.0, size=(n, 1))  # some signal
    ok = rng.random(n) > 0.15
    view_logits[~ok] = np.nan
    got = check_against_reference(view_logits, labels, ok, aggregate)
    assert got.num_failed_videos == int((~ok).sum()) > 0
    assert 0 < got.video_top1 < 100  # the case exercises both outcomes


def test_softmax_and_logits_aggregation_disagree():
    # View 0 is very sure of class 1; views 1 and 2 mildly prefer class 0.
    # Mean of softmax: class 0 gets (0 + 0.881 + 0.881) / 3 = 0.587 -> class 0.
    # Mean of logits: class 0 = 4/3, class 1 = 20/3 -> class 1.
    view_logits = np.array([[[0.0, 20.0], [2.0, 0.0], [2.0, 0.0]]])
    labels, ok = np.array([0]), np.array([True])
    soft = compute_metrics(view_logits, labels, ok, "softmax")
    logit = compute_metrics(view_logits, labels, ok, "logits")
    assert soft.predictions.tolist() == [0] and soft.video_top1 == 100.0
    assert logit.predictions.tolist() == [1] and logit.video_top1 == 0.0
    assert soft.clip_top1 == logit.clip_top1 == pytest.approx(200 / 3)  # clip metrics ignore aggregation
    e = math.exp(2) / (1 + math.exp(2))
    assert soft.topk_scores[0, 0] == pytest.approx((2 * e + 1 / (1 + math.exp(20))) / 3)
    assert logit.topk_scores[0, 0] == pytest.approx(1 / (1 + math.exp(-16 / 3)))  # softmax of the means
    assert soft.aggregate == "softmax" and logit.aggregate == "logits"


def test_failed_videos_count_wrong_in_clip_and_video_metrics():
    k = 6
    good = np.full((3, k), -5.0)
    good[:, 4] = 5.0  # every view right
    view_logits = np.stack([good, good.copy(), good.copy(), good.copy()])
    view_logits[1] = np.nan  # failed, NaN
    # Failed but with logits that would be right: still wrong, its row is ignored.
    labels = np.array([4, 4, 4, 4])
    ok = np.array([True, False, False, True])
    r = compute_metrics(view_logits, labels, ok)
    assert r.clip_top1 == r.clip_top5 == 50.0  # 6 right views of 12
    assert r.video_top1 == r.video_top5 == 50.0
    assert r.mean_class_accuracy == 50.0
    assert r.num_failed_videos == 2 and r.num_videos == 4
    assert r.predictions.tolist() == [4, -1, -1, 4]
    assert r.confusion.sum() == 2 and r.confusion[4, 4] == 2  # failed videos left out


def test_all_videos_failed():
    r = compute_metrics(np.full((2, 3, 4), np.nan), np.array([0, 1]), np.array([False, False]))
    assert (r.clip_top1, r.clip_top5, r.video_top1, r.video_top5, r.mean_class_accuracy) == (0, 0, 0, 0, 0)
    assert r.confusion.sum() == 0


def test_fewer_than_five_classes_uses_top_k_of_all_classes():
    # K = 2: top-"5" is top-2, always right for a scored video; the failed one stays wrong.
    view_logits = np.array([[[0.0, 1.0]], [[1.0, 0.0]], [[np.nan, np.nan]]])
    r = compute_metrics(view_logits, np.array([0, 0, 1]), np.array([True, True, False]))
    assert r.top_k == 2
    assert r.topk_classes.shape == (3, 2) and r.topk_classes[:2].tolist() == [[1, 0], [0, 1]]
    assert r.clip_top5 == pytest.approx(200 / 3) and r.video_top5 == pytest.approx(200 / 3)
    assert r.video_top1 == pytest.approx(100 / 3)


def test_top5_with_many_classes_is_not_everything():
    # Label ranked 6th: outside top-5; ranked 5th: inside.
    row = -np.arange(10, dtype=float)
    r = compute_metrics(np.stack([row, row])[:, None, :], np.array([5, 4]), np.array([True, True]))
    assert r.video_top5 == 50.0 and r.clip_top5 == 50.0 and r.video_top1 == 0.0


def test_mean_class_accuracy_with_unbalanced_classes():
    # Class 0: 4 videos all right; class 1: 1 video, wrong; class 2 has no video (not averaged).
    k = 3
    view_logits = np.zeros((5, 1, k))
    view_logits[:, 0, 0] = 1.0  # everything predicted as class 0
    labels = np.array([0, 0, 0, 0, 1])
    r = compute_metrics(view_logits, labels, np.ones(5, bool))
    assert r.video_top1 == pytest.approx(80.0)
    assert r.mean_class_accuracy == pytest.approx(50.0)  # (100 + 0) / 2, not 80
    # A failed video of class 1 counts in its class: class 1 becomes 1 right of 2.
    view_logits = np.concatenate([view_logits, np.zeros((2, 1, k))])
    view_logits[5, 0, 1] = 1.0
    view_logits[6] = np.nan
    labels = np.array([0, 0, 0, 0, 1, 1, 1])
    ok = np.array([True] * 6 + [False])
    r = compute_metrics(view_logits, labels, ok)
    assert r.mean_class_accuracy == pytest.approx((100 + 100 / 3) / 2)


def test_ties_go_to_lower_class_index():
    r = compute_metrics(np.zeros((2, 2, 7)), np.array([0, 3]), np.array([True, True]))
    assert r.predictions.tolist() == [0, 0]
    assert r.topk_classes[0].tolist() == [0, 1, 2, 3, 4]
    assert r.video_top1 == 50.0 and r.video_top5 == 100.0  # class 3 is 4th


def test_chunking_does_not_change_results(monkeypatch):
    rng = np.random.default_rng(1)
    view_logits = rng.normal(size=(23, 3, 8))
    labels = rng.integers(0, 8, 23)
    ok = rng.random(23) > 0.3
    whole = compute_metrics(view_logits, labels, ok)
    monkeypatch.setattr(metrics_module, "_CHUNK_VIDEOS", 4)
    chunked = compute_metrics(view_logits, labels, ok)
    assert whole.summary() == chunked.summary()
    np.testing.assert_array_equal(whole.topk_classes, chunked.topk_classes)
    np.testing.assert_array_equal(whole.confusion, chunked.confusion)


def test_torch_inputs_including_bf16_and_grad():
    logits = torch.randn(6, 2, 4, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    ok = torch.ones(6, dtype=torch.bool)
    from_torch = compute_metrics(logits, labels, ok)
    from_numpy = compute_metrics(logits.detach().numpy(), labels.numpy(), ok.numpy())
    assert from_torch.summary() == from_numpy.summary()
    assert compute_metrics(logits.detach().bfloat16(), labels, ok).num_videos == 6


def test_softmax_is_stable_for_large_logits():
    p = softmax(np.array([[1000.0, 0.0], [-1000.0, -1000.0]]))
    np.testing.assert_allclose(p, [[1.0, 0.0], [0.5, 0.5]])


@pytest.mark.parametrize(
    "logits, labels, ok, aggregate, match",
    [
        (np.zeros((2, 1, 3)), [0, 1], [True, True], "mean", "aggregate"),
        (np.zeros((2, 3)), [0, 1], [True, True], "softmax", "num_videos, views, classes"),
        (np.zeros((2, 1, 3)), [0, 1, 2], [True, True], "softmax", "must both be"),
        (np.zeros((2, 1, 3)), [0, 3], [True, True], "softmax", "label 3 of video 1"),
        (np.zeros((2, 1, 3)), [0, -1], [True, True], "softmax", "outside"),
        (np.array([[[0.0, np.nan, 0.0]], [[0.0, 0.0, 0.0]]]), [0, 1], [True, True], "softmax", "video 0"),
        (np.zeros((0, 1, 3)), [], [], "softmax", "nothing to evaluate"),
        (np.zeros((2, 1, 3)), [0.0, 1.0], [True, True], "softmax", "integers"),
        (np.zeros((2, 1, 3)), [0, 1], [1, 1], "softmax", "booleans"),
    ],
)
def test_invalid_inputs_are_rejected(logits, labels, ok, aggregate, match):
    with pytest.raises(ValueError, match=match):
        compute_metrics(logits, np.array(labels, dtype=None if labels else np.int64), np.array(ok), aggregate)
