"""The model cards' and Table 1's tables are printed by scripts from the evaluation JSONs, never typed by hand."""

from __future__ import annotations

import json

import pytest

from gald.io.checkpoint import FORMAT_NAME, FORMAT_VERSION
from gald.reports import ablation_table, checkpoint_table, model_card

CLASSES = ["Sky", "Pole", "Car"]


def _eval(miou: float) -> dict:
    heads = {h: {"miou": miou + d, "small_miou": 0.1 + d, "large_miou": 0.8 + d, "pixel_accuracy": 0.9,
                 "per_class_iou": {"Sky": 0.9 + d, "Pole": None, "Car": 0.5 + d}}
             for h, d in (("gald", 0.0), ("ga", -0.01), ("fcn", -0.02))}
    return {"split": "val", "num_images": 3, "heads": heads, "class_pixel_share": {"Sky": 0.5, "Pole": 0.01},
            "boundary_iou": {h: {"2": 0.2, "5": 0.25 + d, "40": 0.5} for h, d in (("gald", 0.0), ("fcn", -0.05))},
            "training": {"optim": {"iters": 250}}}


def test_model_card_tables(tmp_path, capsys, monkeypatch):
    (tmp_path / "m.eval.json").write_text(json.dumps(_eval(0.5)))
    curve = {"val": [{"step": 350, "gald_miou": 0.2, "ga_miou": 0.25, "fcn_miou": 0.24, "boundary_iou_5": 0.1}]}
    (tmp_path / "m.json").write_text(json.dumps({"learning_curve": curve}))
    monkeypatch.setattr("sys.argv", ["model_card", "--checkpoint", str(tmp_path / "m.json")])
    model_card.main()
    out = capsys.readouterr().out
    assert "| Sky | 50.0% | 90.0 | 89.0 | 88.0 |" in out
    assert "| Pole | 1.0% | n/a | n/a | n/a |" in out and "| Car | n/a | 50.0 |" in out
    assert "| **mIoU** | | 50.0 | 49.0 | 48.0 |" in out
    assert "| 5 | 25.0 | 20.0 |" in out and "| 40 | 50.0 | 50.0 |" in out  # GA has no bands: left out
    assert "| 350 | 20.0 | 25.0 | 24.0 | 10.0 |" in out


def test_model_card_phases_calibration_and_scale(tmp_path):
    """A two-phase run without validation, run at another input scale and calibrated: one curve row per phase
    (the last phase's val is the evaluation JSON), the scale the checkpoint runs at, the calibration table."""
    first = {"training": {"step": 100, "data": {"input_scale": 1.0}, "optim": {}}, "val_miou": {"gald": 0.3},
             "learning_curve": {"train": [{"step": s, "loss": 3.0 - s / 100} for s in range(10, 101, 10)],
                                "val": []}}
    meta = {"training": {"step": 60, "data": {"input_scale": 1.0}, "optim": {}}, "parent": first,
            "inference": {"scale": 1.5}, "class_names": CLASSES,
            "learning_curve": {"train": [{"step": s, "loss": 1.0} for s in range(10, 61, 10)], "val": []},
            "calibration": {"images": 7, "split": "train", "pixels": 99, "sample_stride": 4,
                            "miou_before": {"fcn": 0.4, "gald": 0.5}, "miou_after": {"fcn": 0.41, "gald": 0.52},
                            "bias": {"fcn": {"Car": 0.0, "Pole": 0.3, "Sky": -0.3},
                                     "gald": {"Car": 0.01, "Pole": 0.5, "Sky": -0.51}}}}
    (tmp_path / "m.eval.json").write_text(json.dumps(_eval(0.5)))
    (tmp_path / "m.json").write_text(json.dumps(meta))
    out = model_card.card(tmp_path / "m")
    assert "| 1 | 10-100 | 2.650 -> 2.200 | 30.0 | n/a | n/a |" in out  # first / last 50 steps of phase 1
    assert "| 2 | 110-160 | 1.000 -> 1.000 | 50.0 | 49.0 | 48.0 |" in out
    assert "inference at scale 1.5 (set by `gald.export --inference-scale`; the training config's is 1.0)" in out
    # rows in head order, biases in class order, |b| < 0.05 left out
    assert out.index("| GALD (main head) | 50.0 | 52.0 | Sky -0.51, Pole +0.50 |") < out.index(
        "| FCN probe | 40.0 | 41.0 | Sky -0.30, Pole +0.30 |")


def test_ablation_table_rows_and_paper_deltas(tmp_path):
    (tmp_path / "fcn.json").write_text(json.dumps(_eval(0.30)))
    (tmp_path / "gald.json").write_text(json.dumps(_eval(0.35)))
    rows = ablation_table.load_rows(tmp_path)
    assert [r["row"] for r in rows] == ["fcn", "gald"] and rows[1]["iters"] == 250
    table = ablation_table.markdown(rows).splitlines()
    assert table[2] == "| FCN | 30.0 | 10.0 | 80.0 | 25.0 | 73.7 (+0.0) |"
    assert table[3] == "| +CGNL+LD (GALD) | 35.0 (+5.0) | 10.0 | 80.0 | 25.0 | 79.6 (+5.9) |"


def test_checkpoint_table_rows(tmp_path):
    """One row per checkpoint: ImageNet found through a continued run's parent, sizes from the weight file,
    heads main-first; checkpoints evaluated on different splits cannot share the table's header."""
    def make(name, pretrained, parent=None, split="val"):
        meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "inference": {"scale": 1.5},
                "config": {"backbone": "resnet18", "output_stride": 8}, "training": {"pretrained_backbone": None}}
        if parent:
            meta["parent"] = {"training": {"pretrained_backbone": pretrained}}
        else:
            meta["training"]["pretrained_backbone"] = pretrained
        (tmp_path / f"{name}.json").write_text(json.dumps(meta))
        (tmp_path / f"{name}.safetensors").write_bytes(b"0" * 2**20)
        (tmp_path / f"{name}.eval.json").write_text(json.dumps({**_eval(0.5), "split": split}))
        return checkpoint_table.row(tmp_path / name)

    out = checkpoint_table.markdown([make("a", "imagenet", parent=True), make("b", None)])
    assert "GALD (main head) / GA probe / FCN probe" in out
    assert "| `a` | resnet18 (ImageNet) | 8 | 1.5 | 50.0 / 49.0 / 48.0 | 1.0 MiB | [card](docs/model_cards/a.md) |" in out
    assert "| `b` | resnet18 (from scratch) |" in out
    with pytest.raises(ValueError, match="different splits"):
        checkpoint_table.markdown([make("c", None), make("d", None, split="train")])
