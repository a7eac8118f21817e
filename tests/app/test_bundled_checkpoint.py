"""The bundled CamVid checkpoints: load offline, are what their metadata and evaluation JSON say, and segment.

`galdnet_lite2_camvid` is the default (ImageNet EfficientNet-Lite2, trained by gald.train on CamVid train on a
lent GPU in two phases, without validation during training: its result is the last weights; run at input scale
1.5 and with class biases calibrated, both chosen on train data);
`galdnet_lite0_camvid` (EfficientNet-Lite0, trained on this CPU, selected on val) and `galdnet_r18_camvid`
(ResNet-18 from scratch) stay as documented second choices.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from app_helpers import CAMVID_CLASSES, EXAMPLES
from PIL import Image

import gald
from app.inference import DEFAULT_CHECKPOINT, Predictor
from gald import hub
from gald.io.checkpoint import sidecar_path

ROOT = Path(__file__).resolve().parents[2]
CHECKPOINTS = ROOT / "checkpoints"
BUNDLED = {  # name -> (backbone, GA kwargs, ImageNet initialisation, least val mIoU of the GALD head)
    "galdnet_lite2_camvid": ("efficientnet_lite2", {"structure": "official"}, "efficientnet_lite2.safetensors", 0.70),
    "galdnet_lite0_camvid": ("efficientnet_lite0", {"structure": "official"}, "imagenet", 0.55),
    "galdnet_r18_camvid": ("resnet18", {}, None, 0.50),
}


def _root_training(meta: dict) -> dict:
    """The first phase's training record (a continued run keeps its parents in `parent`)."""
    while meta.get("parent"):
        meta = meta["parent"]
    return meta["training"]


def test_default_is_the_lite2_model_and_weights_fit_the_limit():
    assert Path(DEFAULT_CHECKPOINT).name == "galdnet_lite2_camvid"
    total = sum(p.stat().st_size for p in CHECKPOINTS.rglob("*.safetensors"))
    assert total <= 60 * 2**20  # the limit for all weights in the repository


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_checkpoint_files_and_metadata(name):
    backbone, ga_kwargs, init, least = BUNDLED[name]
    ck = CHECKPOINTS / name
    meta = gald.read_metadata(ck)
    cfg = meta["config"]
    assert meta["class_names"] == CAMVID_CLASSES and meta["storage_dtype"] == "float16"
    cfg = meta["config"]
    assert (cfg["backbone"], cfg["ga"], cfg["ga_kwargs"], cfg["arrangement"]) == (backbone, "cgnl", ga_kwargs, "gald")
    root_init = _root_training(meta)["pretrained_backbone"]
    assert cfg["aux"] and cfg["probes"] and (root_init == init or Path(str(root_init)).name == init)
    # a Hub model repository: weights, config, measurements and the generated model card, in one folder
    assert {"model.safetensors", "config.json", "eval.json", "README.md"} <= {p.name for p in ck.iterdir()}
    assert (ck / "README.md").read_text() == hub.model_card(ck), "rerun python -m gald.hub card " + str(ck)
    net = hub.PretrainedGALDNet.from_pretrained(str(ck))  # the Hub's loader, offline from the folder
    # the same architecture (fields added to GALDConfig since the checkpoint was written take their defaults)
    assert net.config.to_dict() == gald.GALDConfig.from_dict(cfg).to_dict() and net.meta == meta
    ev = json.loads(sidecar_path(ck, "eval").read_text())
    assert ev["num_images"] == 101 and ev["split"] == "val"
    assert ev["heads"]["gald"]["miou"] >= least
    # the evaluation ran the checkpoint as the app runs it: at the input scale its metadata names
    assert ev["provenance"]["input_scale"] == (meta.get("inference") or {}).get("scale", 1.0)
    calibration = meta.get("calibration")
    if calibration:  # fitted on train only: val stays for picking
        assert calibration["split"] == "train" and calibration["images"] == 367
        assert all(calibration["miou_after"][h] >= calibration["miou_before"][h] for h in ("gald", "ga", "fcn"))
    curve = meta["learning_curve"]["val"]
    if not curve:  # trained without validation: the last weights, and nothing chosen on val
        assert meta["training"]["data"]["val"] is None and meta["training"]["step"] == meta["training"]["optim"]["iters"]
        assert not meta["metrics"] and meta["learning_curve"]["train"][-1]["step"] == meta["training"]["step"]
        return
    best = max(curve, key=lambda r: r["gald_miou"])
    assert best["step"] == meta["training"]["step"]  # the exported weights are the run's best validation
    same_network = meta.get("trained_output_stride", cfg["output_stride"]) == cfg["output_stride"]
    for head in ("gald", "ga", "fcn"):
        if same_network:  # the evaluation JSON (fp16 weights) agrees with the trainer's number (fp32)
            assert abs(ev["heads"][head]["miou"] - meta["metrics"]["val"][head]["miou"]) < 0.002
        else:  # rebuilt at another output stride: the same weights, a different network
            assert abs(ev["heads"][head]["miou"] - meta["metrics"]["val"][head]["miou"]) < 0.1


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_checkpoint_segments_an_example(name):
    pred = Predictor.from_checkpoint(CHECKPOINTS / name)
    image = np.asarray(Image.open(EXAMPLES / "camvid_0016E5_08101.png").convert("RGB"))
    label = np.asarray(Image.open(EXAMPLES / "camvid_0016E5_08101_label.png"))
    analysis = pred.analyze(image)
    gald_pred = analysis.preds["gald"]
    assert gald_pred.shape == label.shape
    valid = label < len(CAMVID_CLASSES)
    accuracy = float((gald_pred[valid] == label[valid]).mean())
    assert accuracy > 0.75, accuracy  # a random network gets ~1/11; this one was trained
