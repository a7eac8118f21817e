"""Evaluation and prediction: a perfect predictor scores exactly 1, the evaluate CLI writes the documented
JSON, errors are one clear line with exit code 2, and predict writes palette PNGs and counts failures."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

import gald.evaluate
import gald.predict
from gald import GALDConfig, GALDNet, save_checkpoint
from gald.data import (
    CAMVID_CLASSES,
    CAMVID_PALETTE,
    IMAGENET_MEAN,
    IMAGENET_STD,
    LARGE_CAMVID_CLASSES,
    SMALL_CAMVID_CLASSES,
    EvalTransform,
    build_dataset,
)
from gald.evaluation.evaluator import evaluate

HEADS = ("gald", "ga", "fcn")


class ColourOracle(nn.Module):
    """Reads each pixel's class off its colour (the rule the synthetic scenes are drawn with) and returns
    confident one-hot logits for every head: a perfect predictor that needs no labels."""

    def __init__(self, colours: dict[int, tuple[int, int, int]], num_classes: int = 11) -> None:
        super().__init__()
        ids = sorted(colours)
        self.num_classes = num_classes
        self.register_buffer("ids", torch.tensor(ids))
        self.register_buffer("colours", torch.tensor([colours[i] for i in ids], dtype=torch.float32))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        rgb = (x * self.std + self.mean) * 255
        dist = ((rgb[:, None] - self.colours[None, :, :, None, None]) ** 2).sum(2)  # N, K, H, W
        logits = 20.0 * F.one_hot(self.ids[dist.argmin(1)], self.num_classes).permute(0, 3, 1, 2).float()
        return {"out": logits, "ga_probe": logits.clone(), "fcn_probe": logits.clone()}


def test_perfect_predictor_scores_one_everywhere(camvid_root, tools):
    loader = DataLoader(build_dataset(f"camvid:{camvid_root}", "val", EvalTransform()), batch_size=2)
    # flip and a 48 px window (sliding-window tiles over the 64x80 images) must not cost a single pixel
    result = evaluate(ColourOracle(tools.scene_classes), loader, 11, device=torch.device("cpu"),
                      class_names=CAMVID_CLASSES, flip=True, max_size=48, progress=False)
    assert result["num_images"] == 4
    present = {CAMVID_CLASSES[i] for i in tools.scene_classes}
    for head in HEADS:
        r = result["heads"][head]
        assert r["miou"] == 1.0 and r["pixel_accuracy"] == 1.0
        for name, iou in r["per_class_iou"].items():
            assert iou == 1.0 if name in present else math.isnan(iou), (head, name, iou)
        assert result["boundary_iou"][head] == {"2": 1.0, "5": 1.0, "10": 1.0, "20": 1.0, "40": 1.0}
        cm = np.asarray(r["confusion_matrix"])
        assert cm.shape == (11, 11) and (cm == np.diag(np.diag(cm))).all()
    share = result["class_pixel_share"]
    assert sum(share.values()) == pytest.approx(1.0) and set(k for k, v in share.items() if v > 0) == present

    class Constant(ColourOracle):  # the same oracle, blind: "Road" everywhere
        def forward(self, x):
            return super().forward(torch.zeros_like(x) + torch.tensor([-0.0, -0.5, 0.0]).view(1, 3, 1, 1))

    worse = evaluate(Constant(tools.scene_classes), loader, 11, device=torch.device("cpu"), progress=False)
    assert worse["heads"]["gald"]["miou"] < 0.5


def _no_nan_json(path):
    def refuse(token):
        raise AssertionError(f"non-standard JSON constant {token} in {path}")
    return json.loads(path.read_text(), parse_constant=refuse)


def test_evaluate_cli_writes_the_documented_json(trained_run, camvid_root, tmp_path, tools):
    out = tmp_path / "eval" / "best.eval.json"
    proc = tools.run_module("gald.evaluate", "--checkpoint", str(trained_run / "best"), "--data",
                            f"camvid:{camvid_root}", "--split", "val", "--flip", "--scales", "0.75,1.0", "--limit", "3",
                            "--max-size", "48", "--json", str(out), "--device", "cpu", "--workers", "0", "--no-progress")
    table = proc.stdout
    for text in ("gald", "ga", "fcn", "mIoU", "pixel accuracy", "small-class mIoU", "boundary IoU @5px", "Pole*"):
        assert text in table, text
    ev = _no_nan_json(out)
    assert ev["name"] == "tiny" and ev["split"] == "val" and ev["num_images"] == 3
    assert set(ev["heads"]) == set(HEADS)
    for head in HEADS:
        r = ev["heads"][head]
        assert {"miou", "pixel_accuracy", "per_class_iou", "confusion_matrix", "small_miou", "large_miou"} <= set(r)
        assert list(r["per_class_iou"]) == CAMVID_CLASSES
        assert 0.0 <= r["miou"] <= 1.0 and 0.0 <= r["pixel_accuracy"] <= 1.0
        assert np.asarray(r["confusion_matrix"]).shape == (11, 11)
        assert set(ev["boundary_iou"][head]) == {"2", "5", "10", "20", "40"}
        dec = ev["error_decomposition"][head]
        kinds = ("missed_segment", "hallucinated_segment", "boundary", "interior")
        assert sum(dec[k] for k in kinds) == pytest.approx(dec["error"])
        assert dec["error"] == pytest.approx(1 - r["pixel_accuracy"], abs=1e-6)  # the same wrong pixels
    assert ev["small_large"] == {"small": SMALL_CAMVID_CLASSES, "large": LARGE_CAMVID_CLASSES, "rule": "camvid"}
    assert list(ev["class_pixel_share"]) == CAMVID_CLASSES
    prov = ev["provenance"]
    assert prov["checkpoint"] == str(trained_run / "best") and prov["data"] == f"camvid:{camvid_root}"
    assert prov["flip"] is True and prov["scales"] == [0.75, 1.0] and prov["input_scale"] == 1.0
    assert prov["limit"] == 3 and prov["dataset_size"] == 4 and prov["device"] == "cpu"
    assert prov["torch"] == torch.__version__ and prov["date"][:2] == "20" and prov["wall_time_s"] > 0
    assert ev["training"]["optim"]["iters"] == 30  # what gald/reports/ablation_table.py reads


def test_evaluate_cli_errors_are_one_line_and_exit_2(trained_run, camvid_root, tmp_path, capsys, one_thread):
    data = ["--data", f"camvid:{camvid_root}", "--workers", "0", "--no-progress"]

    def run(ckpt):
        rc = gald.evaluate.main(["--checkpoint", str(ckpt), *data])
        return rc, capsys.readouterr().err

    rc, err = run(tmp_path / "missing")
    assert rc == 2 and err.startswith("error: checkpoint metadata not found")

    shutil.copy(trained_run / "best.json", tmp_path / "corrupt.json")
    (tmp_path / "corrupt.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all")
    rc, err = run(tmp_path / "corrupt")
    assert rc == 2 and "not a valid safetensors file" in err and "Traceback" not in err

    model = GALDNet(GALDConfig(num_classes=5, backbone="resnet18", mid_channels=32))
    save_checkpoint(tmp_path / "five", model, {"class_names": list("abcde"), "palette": CAMVID_PALETTE[:5]})
    rc, err = run(tmp_path / "five")
    assert rc == 2 and "has 11 classes but checkpoint" in err and "predicts 5" in err

    rc = gald.evaluate.main(["--checkpoint", str(trained_run / "best"), "--data", f"camvid:{tmp_path / 'nope'}"])
    assert rc == 2 and "does not exist" in capsys.readouterr().err


def _write_inputs(camvid_root, folder):
    folder.mkdir()
    for i in range(3):
        shutil.copy(camvid_root / "val" / f"val_{i:03d}.png", folder)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (folder / "notes.txt").write_text("not an image: ignored, not a failure")
    # a JPEG stored sideways with EXIF orientation 6 ("rotate 90 clockwise to display")
    rgb = np.asarray(Image.open(camvid_root / "val" / "val_003.png").convert("RGB"))
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(folder / "sideways.jpg", exif=exif, quality=95)


def test_predict_writes_palette_pngs_and_counts_failures(trained_run, camvid_root, tmp_path, tools):
    inputs, out = tmp_path / "in", tmp_path / "out"
    _write_inputs(camvid_root, inputs)
    proc = tools.run_module("gald.predict", "--checkpoint", str(trained_run / "best"), str(inputs), "--out", str(out),
                            "--overlay", check=False)
    assert proc.returncode == 1, proc.stderr
    assert "wrote 4 predictions (gald head)" in proc.stdout and "1 of 5 inputs failed" in proc.stdout
    assert "broken.png" in proc.stderr and "Traceback" not in proc.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f"{s}{x}.png" for s in ("val_000", "val_001", "val_002", "sideways") for x in ("", "_overlay")])

    flat_palette = [v for c in CAMVID_PALETTE for v in c]
    agree = []
    for i in range(3):
        pred = Image.open(out / f"val_{i:03d}.png")
        assert pred.mode == "P" and pred.size == (80, 64)
        assert pred.getpalette()[: len(flat_palette)] == flat_palette
        ids = np.asarray(pred)
        assert ids.max() < 11
        label = np.asarray(Image.open(camvid_root / "valannot" / f"val_{i:03d}.png"))
        agree.append((ids == label)[label != 11].mean())
        overlay = Image.open(out / f"val_{i:03d}_overlay.png")
        assert overlay.mode == "RGB" and overlay.size == (80, 64)
    assert np.mean(agree) > 0.6, agree  # the tiny model is right on most pixels: preprocessing matches training
    # EXIF orientation honoured: the 80x64 stored JPEG is 64 wide and 80 high once rotated
    assert Image.open(out / "sideways.png").size == (64, 80)


def test_predict_single_file_heads_and_bad_arguments(trained_run, camvid_root, tmp_path, capsys, one_thread):
    image = camvid_root / "val" / "val_000.png"
    ckpt = str(trained_run / "best")
    assert gald.predict.main(["--checkpoint", ckpt, str(image), "--out", str(tmp_path / "fcn"), "--head", "fcn",
                              "--no-progress"]) == 0
    assert (tmp_path / "fcn" / "val_000.png").is_file()
    assert "wrote 1 prediction (fcn head)" in capsys.readouterr().out

    assert gald.predict.main(["--checkpoint", ckpt, str(tmp_path / "nothing.png")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert gald.predict.main(["--checkpoint", ckpt, str(camvid_root / "val"), "--out", str(camvid_root / "val")]) == 2
    assert "would overwrite" in capsys.readouterr().err
    assert gald.predict.main(["--checkpoint", str(tmp_path / "missing"), str(image)]) == 2
    assert "error: checkpoint metadata not found" in capsys.readouterr().err
