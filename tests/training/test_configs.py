"""Every shipped config loads and builds a valid model config; the ablation rows share one recipe."""

from __future__ import annotations

from pathlib import Path

import pytest

from gald.io.config_file import load_config
from gald.models import GALDConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
ALL = sorted(CONFIGS.rglob("*.yaml"))
ABLATIONS = sorted((CONFIGS / "camvid_ablation").glob("*.yaml"))


@pytest.mark.parametrize("path", ALL, ids=[str(p.relative_to(CONFIGS)) for p in ALL])
def test_config_loads(path):
    cfg = load_config(path)
    GALDConfig.from_dict({**cfg["model"], "num_classes": 11})
    assert cfg["optim"]["iters"] > 0 and cfg["optim"]["batch_size"] > 0


def test_ablation_rows_share_recipe_and_budget():
    assert len(ABLATIONS) >= 11
    recipes = {p.stem: load_config(p) for p in ABLATIONS}
    ref = recipes["gald"]
    for name, cfg in recipes.items():
        assert cfg["data"] == ref["data"] and cfg["optim"] == ref["optim"] and cfg["loss"] == ref["loss"], name
        assert cfg["model"]["backbone"] == "resnet18", name
    arrangements = {cfg["model"].get("arrangement") for cfg in recipes.values()}
    assert {"fcn", "ga", "ld", "gald", "ldga", "parallel"} <= arrangements
