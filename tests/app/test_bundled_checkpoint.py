"""The bundled CamVid checkpoint: loads offline, is what its metadata and evaluation JSON say, and segments."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from app_helpers import CAMVID_CLASSES, EXAMPLES
from PIL import Image

import gald
from app.inference import Predictor

BUNDLED = Path(__file__).resolve().parents[2] / "checkpoints" / "galdnet_r18_camvid"


def test_bundled_checkpoint_files_and_metadata():
    weights = BUNDLED.with_name(BUNDLED.name + ".safetensors")
    assert weights.stat().st_size < 60 * 2**20  # the size limit
    meta = gald.read_metadata(BUNDLED)
    assert meta["class_names"] == CAMVID_CLASSES and meta["storage_dtype"] == "float16"
    cfg = meta["config"]
    assert (cfg["backbone"], cfg["output_stride"], cfg["ga"], cfg["arrangement"]) == ("resnet18", 8, "cgnl", "gald")
    assert cfg["aux"] and cfg["probes"] and meta["training"]["pretrained_backbone"] is None  # from scratch
    curve = meta["learning_curve"]["val"]
    assert curve[-1]["step"] == meta["training"]["step"]
    # the evaluation JSON was computed on these (fp16) weights; the trainer's number on the fp32 ones
    ev = json.loads(BUNDLED.with_name(BUNDLED.name + ".eval.json").read_text())
    assert ev["num_images"] == 101 and ev["split"] == "val"
    for head in ("gald", "ga", "fcn"):
        assert abs(ev["heads"][head]["miou"] - meta["metrics"]["val"][head]["miou"]) < 0.002


def test_bundled_checkpoint_segments_an_example():
    pred = Predictor.from_checkpoint(BUNDLED)
    image = np.asarray(Image.open(EXAMPLES / "camvid_0016E5_08101.png").convert("RGB"))
    label = np.asarray(Image.open(EXAMPLES / "camvid_0016E5_08101_label.png"))
    analysis = pred.analyze(image)
    gald_pred = analysis.preds["gald"]
    assert gald_pred.shape == label.shape
    valid = label < len(CAMVID_CLASSES)
    accuracy = float((gald_pred[valid] == label[valid]).mean())
    assert accuracy > 0.75, accuracy  # a random network gets ~1/11; this one was trained
