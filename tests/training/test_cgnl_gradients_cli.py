"""gald.reports.cgnl_gradients on a tiny checkpoint: one row per CGNL module and loss, JSON written, and a
checkpoint without CGNL refused."""

from __future__ import annotations

import json

import pytest
import torch

import gald
from gald.reports import cgnl_gradients

META = {"class_names": [f"c{i}" for i in range(11)], "palette": [[20 * i, 255 - 20 * i, 100] for i in range(11)],
        "normalization": {"mean": [0.5] * 3, "std": [0.25] * 3}}


def test_cli_prints_ratios_for_a_checkpoint(camvid_root, tmp_path, capsys):
    torch.manual_seed(0)
    model = gald.build_model(num_classes=11, mid_channels=32, ga_kwargs={"structure": "official"})
    torch.nn.init.ones_(model.context.gn.weight)
    gald.save_checkpoint(tmp_path / "ck", model, META)
    out = tmp_path / "grads.json"
    cgnl_gradients.main(["--checkpoint", str(tmp_path / "ck"), "--data", f"camvid:{camvid_root}", "--images", "2",
                         "--json", str(out)])
    result = json.loads(out.read_text())
    m = result["modules"]["context"]
    assert m["structure"] == "official" and m["norm"] == "group" and result["images"] == 2
    assert set(m["relative_gradients"]) == {"direction", "square"} and m["regime_median"] > 0
    assert all(v > 0 for v in m["relative_gradients"]["direction"].values())
    text = capsys.readouterr().out
    assert "| context | group | direction |" in text and "sign(a)" in text

    gald.save_checkpoint(tmp_path / "fcn", gald.build_model(num_classes=11, mid_channels=32, arrangement="fcn"), META)
    with pytest.raises(SystemExit, match="no CGNL"):
        cgnl_gradients.main(["--checkpoint", str(tmp_path / "fcn"), "--data", f"camvid:{camvid_root}"])
