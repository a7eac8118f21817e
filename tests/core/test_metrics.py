"""Confusion-matrix metrics against hand-computed values; boundary bands."""

import math

import numpy as np
import pytest
import torch

from gald.data.constants import CAMVID_CLASSES
from gald.evaluation.metrics import BoundaryIoU, ConfusionMatrix, boundary_band, small_large_split


def test_iou_hand_computed():
    target = torch.tensor([[0, 0, 1, 1], [2, 2, 255, 1]])
    pred = torch.tensor([[0, 1, 1, 1], [2, 0, 0, 2]])
    cm = ConfusionMatrix(4)
    cm.update(pred, target)
    # rows = gt, cols = pred; the ignored pixel (255) is skipped.
    assert cm.mat.tolist() == [[1, 1, 0, 0], [0, 2, 1, 0], [1, 0, 1, 0], [0, 0, 0, 0]]
    r = cm.compute()
    iou = r["per_class_iou"]
    assert iou[0] == pytest.approx(1 / 3)  # tp 1, fp 1 (a gt-2 pixel), fn 1
    assert iou[1] == pytest.approx(2 / 4)  # tp 2, fp 1, fn 1
    assert iou[2] == pytest.approx(1 / 3)  # tp 1, fp 1, fn 1
    assert math.isnan(iou[3])  # absent everywhere: excluded from the mean
    assert r["miou"] == pytest.approx((1 / 3 + 1 / 2 + 1 / 3) / 3)
    assert r["pixel_accuracy"] == pytest.approx(4 / 7)


def test_out_of_range_targets_are_ignored_and_shape_checked():
    cm = ConfusionMatrix(2)
    cm.update(torch.tensor([0, 1, 1]), torch.tensor([0, 5, 1]))
    assert cm.mat.sum() == 2
    with pytest.raises(ValueError, match="shape"):
        cm.update(torch.zeros(2, 2), torch.zeros(3, 3))


def test_boundary_band_widths():
    label = torch.zeros(20, 20, dtype=torch.long)
    label[:, 10:] = 1
    band0 = boundary_band(label, 0)
    assert band0[:, 9:11].all() and band0.sum() == 40
    band3 = boundary_band(label, 3)
    assert band3[:, 6:14].all() and band3.sum() == 20 * 8


def test_boundary_iou_penalises_shifted_boundary_only_in_band():
    target = torch.zeros(1, 32, 32, dtype=torch.long)
    target[..., 16:] = 1
    pred = torch.zeros_like(target)
    pred[..., 18:] = 1  # boundary off by 2 px
    b = BoundaryIoU(2, widths=(2, 10))
    b.update(pred, target)
    curve = b.compute()
    assert curve["2"] < curve["10"] < 1.0


def test_small_large_split():
    shares = {"a": 0.5, "b": 0.01, "c": 0.3, "d": 0.019}
    assert small_large_split(list(shares), shares) == {"small": ["b", "d"], "large": ["a", "c"],
                                                       "rule": "class_pixel_share < 0.02"}
    camvid = small_large_split(list(reversed(CAMVID_CLASSES)), None)
    assert camvid["rule"] == "camvid" and "Pole" in camvid["small"] and "Road" in camvid["large"]


@pytest.mark.parametrize("width", [0, 1, 3, 7, 40])
def test_boundary_band_matches_brute_force_chebyshev_distance(width):
    g = torch.Generator().manual_seed(width)
    label = torch.randint(0, 3, (6, 8), generator=g).repeat_interleave(4, 0).repeat_interleave(4, 1)[:23, :31]
    label[:3, :5] = 255
    lab = label.numpy()
    h, w = lab.shape
    pad = np.pad(lab, 1, mode="edge")
    edge = np.zeros_like(lab, dtype=bool)  # any 3x3 neighbour with another label (ignore counts as a label)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            edge |= pad[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] != lab
    expected = np.zeros_like(edge)
    for y, x in zip(*np.nonzero(edge), strict=True):
        expected[max(0, y - width):y + width + 1, max(0, x - width):x + width + 1] = True
    np.testing.assert_array_equal(boundary_band(label, width).numpy(), expected)


def test_boundary_iou_shared_bands_give_the_same_result():
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 3, (2, 24, 30), generator=g)
    pred = torch.randint(0, 3, (2, 24, 30), generator=g)
    a, b = BoundaryIoU(3, widths=(1, 4)), BoundaryIoU(3, widths=(1, 4))
    a.update(pred, target)
    b.update(pred, target, b.bands(target))
    assert a.compute() == b.compute() and set(b.bands(target)) == {1, 4}
