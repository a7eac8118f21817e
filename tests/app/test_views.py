"""Views for every arrangement (Table 1(c) ablation checkpoints): no crash, sensible absences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from app_helpers import CAMVID_CLASSES, CAMVID_PALETTE

import gald
from app import views
from app.inference import Predictor


@pytest.mark.parametrize("arrangement", ["fcn", "ga", "ld", "ldga", "parallel", "gald"])
def test_every_arrangement(arrangement, rgb):
    torch.manual_seed(0)
    model = gald.build_model(num_classes=11, backbone="resnet18", arrangement=arrangement).eval()
    pred = Predictor(model, {"class_names": CAMVID_CLASSES, "palette": CAMVID_PALETTE})
    small = np.ascontiguousarray(rgb[:48, :64])
    label = np.full(small.shape[:2], 3, np.uint8)
    out = views.full_analysis(pred, small, label, channel=300)
    a = out["analysis"]
    assert "gald" in a.preds  # the main head always exists
    assert (a.mask is not None) == model.config.uses_ld
    assert ("gald_ld_off" in a.preds) == model.config.uses_ld
    assert ("ga" in a.preds) == model.config.uses_ga
    if a.mask is None:
        assert out["masks"]["mean"] is None and out["channel"][0] is None
    else:
        assert out["channel"][0].shape == small.shape and "Channel **255**" in out["channel"][1]
    assert out["metrics"]["confusion"] is not None and len(out["metrics"]["rows"]) == 17  # + 4 error kinds
