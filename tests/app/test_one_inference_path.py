"""The app shows exactly what the model card measures: the app's analysis of a CamVid frame and
`gald.evaluate`'s prediction for it are the same class map, pixel for pixel, for every head, at the bundled
model's default input scale and at 1.0.

The evaluate side is built as `gald.evaluate` builds it: the dataset's `EvalTransform` with the checkpoint's
normalisation, then `gald.evaluation.evaluator.forward_probs` at the input scale and the first maximum.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from app_helpers import EXAMPLES

from app import image_io
from app.inference import DEFAULT_CHECKPOINT, Predictor
from gald.data import EvalTransform, load_image
from gald.evaluation.evaluator import forward_probs
from gald.evaluation.inference import Preprocessing
from gald.evaluation.metrics import class_map
from gald.heads import BY_OUTPUT


@pytest.fixture(scope="module")
def bundled() -> Predictor:
    return Predictor.from_checkpoint(DEFAULT_CHECKPOINT, device="cpu", cache_size=2)


def evaluate_prediction(predictor: Predictor, path, scale: float) -> dict[str, np.ndarray]:
    rgb = load_image(path, str(path))
    pre = Preprocessing.from_metadata(predictor.meta)
    image, _ = EvalTransform(pre.mean, pre.std)(rgb, np.zeros(rgb.shape[:2], np.uint8))
    with torch.no_grad():
        probs = forward_probs(predictor.model, image[None], [scale], flip=False, amp=False, max_size=2048)
    return {BY_OUTPUT[key].key: class_map(p)[0].numpy() for key, p in probs.items()}


@pytest.mark.parametrize("scale", ["default", 1.0])
def test_app_and_evaluate_give_the_same_class_map(bundled, scale):
    scale = bundled.scale if scale == "default" else scale
    assert bundled.scale == 1.5  # the bundled model runs zoomed in: the default case really resizes
    path = EXAMPLES / "camvid_0016E5_08101.png"
    analysis = bundled.analyze(image_io.load_image(path).rgb, scale)
    assert np.array_equal(analysis.image, load_image(path, str(path)))  # both decode the same pixels
    expected = evaluate_prediction(bundled, path, scale)
    assert set(expected) == {"fcn", "ga", "gald"}
    for head, want in expected.items():
        got = analysis.preds[head]
        assert got.shape == want.shape
        differ = int((got != want).sum())
        assert differ == 0, f"{head} at scale {scale}: {differ} of {want.size} pixels differ"


def test_the_comparison_can_fail(bundled):
    """Positive control: the app's path before the fix (PIL resize of the uint8 image, then normalise) does
    not give evaluate's class map at scale 1.5, so the equality above is a real check."""
    path = EXAMPLES / "camvid_0016E5_08101.png"
    rgb = load_image(path, str(path))
    pre = Preprocessing.from_metadata(bundled.meta)
    old_input = EvalTransform(pre.mean, pre.std, scale=1.5)(rgb, np.zeros(rgb.shape[:2], np.uint8))[0][None]
    with torch.no_grad():
        probs = forward_probs(bundled.model, old_input, [1.0], flip=False, amp=False, max_size=2048)
    old = class_map(torch.nn.functional.interpolate(probs["out"], size=rgb.shape[:2], mode="bilinear"))[0].numpy()
    assert (old != evaluate_prediction(bundled, path, 1.5)["gald"]).sum() > 0
