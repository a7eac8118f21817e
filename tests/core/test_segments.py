"""Error decomposition: every wrong pixel gets exactly one kind, and each kind is what its name says."""

import numpy as np
import pytest

from gald.evaluation.segments import ERROR_KINDS, ErrorDecomposition, decompose_errors, error_kind_map

K = 4


def _scene():
    target = np.zeros((40, 60), np.int64)  # background class 0
    target[2:38, 5:40] = 1  # a large object
    target[30:34, 45:49] = 2  # a small object
    target[:, :2] = 255  # ignored strip
    return target


def test_kinds_are_what_they_say():
    target = _scene()
    pred = target.copy()
    pred[target == 255] = 0
    pred[30:34, 45:49] = 0  # the small object is missed entirely
    pred[5:9, 50:54] = 3  # a made-up object in the background
    pred[2:20, 39] = 0  # the large object's right edge is off by one column
    pred[20:38, 5:40] = 0  # the background swallows the lower half of the large object
    kind = error_kind_map(pred, target, K)
    names = dict(enumerate(("correct",) + ERROR_KINDS))
    assert names[int(kind[31, 46])] == "missed_segment"
    assert names[int(kind[6, 51])] == "hallucinated_segment"
    assert names[int(kind[10, 39])] == "boundary"
    assert names[int(kind[25, 20])] == "interior"  # > 5 px from any label boundary
    assert names[int(kind[35, 20])] == "boundary"  # 2 px from the object's bottom edge
    assert (kind[target == 255] == 0).all()
    counts = decompose_errors(pred, target, K)
    wrong = int(((pred != target) & (target < K)).sum())
    assert sum(counts[k] for k in ERROR_KINDS) == wrong and counts["correct"] + wrong == counts["valid"]
    assert counts["missed_segment"] == 16 and counts["hallucinated_segment"] == 16
    assert counts["interior"] > 0 and counts["boundary"] > 18


def test_split_shares_and_shape_check():
    target = _scene()
    acc = ErrorDecomposition(K)
    acc.update(target.copy(), target)  # perfect (the ignored strip is never counted)
    pred = np.zeros_like(target)
    acc.update(pred, target)  # only background: both objects missed
    out = acc.compute()
    valid = int((target < K).sum())
    assert out["missed_segment"] == pytest.approx((36 * 35 + 16) / (2 * valid))
    assert out["error"] == pytest.approx(sum(out[k] for k in ERROR_KINDS))
    with pytest.raises(ValueError, match="differ in shape"):
        decompose_errors(pred[:10], target, K)


def test_mask_follows_segment_size_measure():
    from gald.evaluation.segments import mask_size_correlation, segment_mask_stats

    pred = np.zeros((60, 80), np.uint8)
    pred[5:9, 5:9], pred[20:26, 40:46], pred[40:44, 60:64] = 1, 2, 3  # three small segments in one large
    high_inside_large = np.where(pred == 0, 0.9, 0.2).astype(np.float32)
    stats = segment_mask_stats(pred, high_inside_large)
    assert sorted(stats["area"].tolist()) == [16.0, 16.0, 36.0, 4800.0 - 68.0]
    assert mask_size_correlation(stats) > 0.9
    assert mask_size_correlation(segment_mask_stats(pred, 1.0 - high_inside_large)) < -0.9
    assert mask_size_correlation(segment_mask_stats(pred, np.full((60, 80), 0.5, np.float32))) is None
