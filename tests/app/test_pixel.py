"""Pixel query: probabilities from the cached pass equal a fresh forward, the mask at the point, Non-Local
attention rows, and attribution of a small region."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from app_helpers import CAMVID_CLASSES, CAMVID_PALETTE

import gald
from app import pixel, views
from app.inference import Predictor

META = {"class_names": CAMVID_CLASSES, "palette": CAMVID_PALETTE}


def _predictor(ga: str = "cgnl") -> Predictor:
    torch.manual_seed(0)
    model = gald.build_model(num_classes=11, backbone="resnet18", ga=ga, mid_channels=64).eval()
    if ga == "nl":  # an untrained NL block adds nothing (zero-init gain): give it one
        torch.nn.init.ones_(model.context.out[1].weight)
    return Predictor(model, META)


def test_probabilities_match_a_fresh_forward(rgb):
    pred = _predictor()
    analysis = pred.analyze(rgb)
    loc = pixel.locate(analysis, 37, 61)
    probs = pixel.head_probabilities(analysis, loc)
    assert set(probs) == {"fcn", "ga", "gald"}
    x = pred.preprocess(rgb)
    with torch.no_grad():
        logits = pred.model(x)["out"]  # upsampled to the network input, as the cached stage logits
    ref = F.softmax(logits[0, :, loc.net[0], loc.net[1]].double(), 0).numpy()
    np.testing.assert_allclose(probs["gald"], ref, atol=2e-3)  # the cache stores float16
    assert probs["gald"].sum() == pytest.approx(1.0)
    for y, x in [(0, 0), (95, 127), (50, 3), (17, 90)]:  # the panel's top class is the one the map shows
        p_here = pixel.head_probabilities(analysis, pixel.locate(analysis, x, y))
        for head in ("fcn", "ga", "gald"):
            assert p_here[head].argmax() == analysis.preds[head][y, x] or np.sort(p_here[head])[-2] > \
                p_here[head].max() - 1e-3  # float16 cache: only a near-tie may flip
    m = pixel.mask_at(analysis, loc)
    channel = m["top"][0][0]
    assert m["top"][0][1] == pytest.approx(float(analysis.mask[channel, loc.feat[0], loc.feat[1]]))
    assert m["top"][0][1] >= m["mean"] >= m["bottom"][0][1]
    with pytest.raises(ValueError, match=r"outside the 128x96 image"):
        pixel.locate(analysis, 128, 10)


def test_nonlocal_attention_row_and_other_gas(rgb):
    nl = _predictor("nl")
    analysis = nl.analyze(rgb)
    loc = pixel.locate(analysis, 100, 20)
    row = pixel.nonlocal_attention(nl, analysis, loc)
    assert row is not None and row.max() == pytest.approx(1.0) and row.min() >= 0
    with torch.no_grad():
        x = nl.model.reduce(torch.from_numpy(analysis.stages["F"].astype(np.float32))[None])
        att = nl.model.context.attention(x)[0]
    assert att.sum(-1).allclose(torch.ones(att.shape[0]), atol=1e-4)  # rows are distributions
    other = pixel.nonlocal_attention(nl, analysis, pixel.locate(analysis, 5, 90))
    assert not np.allclose(row, other)  # each pixel has its own map
    text, bars, pic, note = views.pixel_view(nl, analysis, None, 100, 20)
    assert pic is not None and "Non-Local attention" in note and "Pixel (100, 20)" in text
    cg = _predictor("cgnl")
    _, _, pic, note = views.pixel_view(cg, cg.analyze(rgb), None, 100, 20)
    assert pic is None and "no per-pixel attention map" in note


def test_pixel_attribution_explains_a_region_and_the_ground_truth(rgb):
    pred = _predictor()
    analysis = pred.analyze(rgb)
    label = np.full(rgb.shape[:2], 8, np.uint8)  # "Car" everywhere
    pic, gt_pic, text = views.pixel_attribution_view(pred, analysis, label, 60, 40, "gald")
    assert pic.shape[:2] == gt_pic.shape[:2] and "ground-truth class **Car**" in text
    region = pixel.region_around(analysis, pixel.locate(analysis, 60, 40))
    assert region[2] - region[0] <= 3 and region[3] - region[1] <= 3
    far = pred.attribute(analysis, "gald", 3, "gradcam", region=(0, 0, 1, 1))
    near = pred.attribute(analysis, "gald", 3, "gradcam", region=region)
    assert far.shape == near.shape and not np.allclose(far, near)  # the region matters
