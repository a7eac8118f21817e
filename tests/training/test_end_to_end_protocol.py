"""The end-to-end protocol on synthetic data: one command trains and evaluates each row x seed, writes the
head protocol's JSON shape, skips finished rows and resumes an interrupted one."""

from __future__ import annotations

import json

from gald.ablation import end_to_end as e2e
from gald.ablation.rows import config_overrides
from gald.ablation.stats import load, summarize
from gald.reports import head_protocol_table


def test_row_overrides_come_from_the_row_registry():
    assert config_overrides("fcn") == ['model.arrangement="fcn"']
    assert 'model.ga_kwargs={"structure": "residual_full"}' in config_overrides("gald_residual_full")


def test_protocol_runs_skips_and_tables(tiny_config, camvid_root, tmp_path, capsys):
    out, runs = tmp_path / "out", tmp_path / "runs"
    args = ["--config", str(tiny_config), "--runs", str(runs), "--out", str(out), "--data", f"camvid:{camvid_root}",
            "--rows", "fcn", "gald", "--seeds", "0", "1", "--set", "optim.iters=2", "--set", "model.mid_channels=16"]
    assert e2e.main(args) == 0
    names = sorted(p.name for p in out.glob("*.json"))
    assert names == ["fcn_seed0.json", "fcn_seed1.json", "gald_seed0.json", "gald_seed1.json"]
    r = json.loads((out / "gald_seed1.json").read_text())
    assert r["protocol"] == "end_to_end" and r["seed"] == 1 and r["iters"] == 2 and 0 <= r["miou"] <= 1
    assert r["evaluation"]["training"]["model"]["arrangement"] == "gald"
    assert json.loads((out / "fcn_seed0.json").read_text())["evaluation"]["training"]["model"]["arrangement"] == "fcn"
    assert runs.joinpath("gald_seed1", "last.safetensors").is_file()

    (out / "fcn_seed1.json").unlink()  # an interrupted protocol: only this row runs again
    before = (out / "gald_seed0.json").stat().st_mtime_ns
    capsys.readouterr()
    assert e2e.main(args) == 0
    printed = capsys.readouterr().out
    assert "gald seed 0: done (JSON exists), skipped" in printed and "fcn seed 1: val mIoU" in printed
    assert (out / "gald_seed0.json").stat().st_mtime_ns == before

    rows = summarize(load(out))
    assert [r["row"] for r in rows] == ["fcn", "gald"] and rows[1]["delta"]["n"] == 2
    assert "| +CGNL+LD (GALD) | 2 |" in head_protocol_table.markdown(rows)
