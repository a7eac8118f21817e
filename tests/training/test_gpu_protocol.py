"""The GPU end-to-end protocol's layout and table (gald.ablation.gpu_protocol): a returned summary.json unpacked into one
JSON per run plus protocol.json, loaded as the Dashboard reads it, with Holm-corrected paired comparisons."""

from __future__ import annotations

import json

import pytest

from gald.ablation import gpu_protocol
from gald.ablation import stats as ablation_stats

pytestmark = pytest.mark.skipif(not hasattr(ablation_stats, "holm_adjust"),
                                reason="needs gald.ablation.stats.holm_adjust (the science helper's Holm correction)")
MIOU = {"fcn": 0.60, "ga": 0.61, "ld": 0.62, "gald": 0.64}


def _run(row: str, seed: int) -> dict:
    m = MIOU[row] + 0.004 * seed + (0.003 if row == "gald" and seed == 1 else 0.0)
    return {"status": "done", "row": row, "seed": seed, "miou": m, "small_miou": m / 2, "large_miou": m + 0.1,
            "boundary_iou_5": m - 0.2, "iters": 500, "hardware": "NVIDIA H200 (CUDA)", "num_images": 101,
            "overrides": ['model.arrangement="fcn"', "train.seed=0", "data.on_device=true"],
            "mask_vs_size": {"corr_per_image_median": 0.2, "positive_share": 0.7, "images": 101}
            if row in ("ld", "gald") else None, "evaluation": {"data": "camvid:.gpu/camvid"}}


def test_unpack_load_and_table(tmp_path):
    table1 = {f"{r}_seed{s}": _run(r, s) for s in range(3) for r in MIOU}
    table1["gald_seed3"] = {"status": "stopped", "row": "gald", "seed": 3}
    summary = {"results": {"table1": table1, "main": {}}, "plan": {"batch": 16, "table1": {"epochs": 21.8}},
               "stages": [{"stage": "table1", "seconds": 250.0, "exit": 0}], "status": {"table1": {"runs": {}}}}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    dest = tmp_path / gpu_protocol.FOLDER
    written = gpu_protocol.unpack(tmp_path / "summary.json", dest)
    assert len(written) == 13 and not (dest / "gald_seed3.json").exists()  # a stopped run is left out
    table = gpu_protocol.load(dest)
    assert table["protocol"]["not_done"] == ["gald_seed3"] and table["protocol"]["recipe"]["steps"] == 500
    assert table["protocol"]["recipe"]["overrides_common"] == ["data.on_device=true"]
    assert [r["row"] for r in table["rows"]] == ["fcn", "ga", "ld", "gald"]
    pairs = [(c["row"], c["base"]) for c in table["comparisons"]]
    assert pairs == [("ga", "fcn"), ("ld", "fcn"), ("gald", "fcn"), ("ld", "ga"), ("gald", "ld")]
    for c in table["comparisons"]:
        assert c["family_size"] == 5 and c["p"] <= c["p_holm"] <= 1
    gald_vs_fcn = next(c for c in table["comparisons"] if c["row"] == "gald" and c["base"] == "fcn")
    assert gald_vs_fcn["mean"] == pytest.approx(4.1, abs=0.01) and gald_vs_fcn["low"] > 0
    text = gpu_protocol.markdown(table)
    assert "| +CGNL+LD (GALD) | 3 | 64.5" in text and "Holm p (5 comparisons)" in text and "gald_seed3" in text
    assert gpu_protocol.main(["--dest", str(dest), "--json", str(tmp_path / "t.json")]) == 0
    assert json.loads((tmp_path / "t.json").read_text())["rows"][0]["row"] == "fcn"
