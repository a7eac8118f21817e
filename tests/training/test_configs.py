"""Every shipped config loads and builds a valid model config; the ablation rows share one recipe."""

from __future__ import annotations

from pathlib import Path

import pytest

from gald.io.config_file import load_config
from gald.models import GALDConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
ALL = sorted(CONFIGS.rglob("*.yaml"))


@pytest.mark.parametrize("path", ALL, ids=[str(p.relative_to(CONFIGS)) for p in ALL])
def test_config_loads(path):
    cfg = load_config(path)
    GALDConfig.from_dict({**cfg["model"], "num_classes": 11})
    assert cfg["optim"]["iters"] > 0 and cfg["optim"]["batch_size"] > 0


def test_ablation_rows_are_the_registry_on_one_recipe():
    """Every Table 1 row is the one ablation recipe plus only its model overrides."""
    from gald.ablation.rows import ROWS, config_overrides

    ref = load_config(CONFIGS / "camvid_ablation.yaml")
    for key in ROWS:
        cfg = load_config(CONFIGS / "camvid_ablation.yaml", config_overrides(key))
        assert {k: v for k, v in cfg.items() if k != "model"} == {k: v for k, v in ref.items() if k != "model"}, key
        assert cfg["model"]["backbone"] == "resnet18", key
    assert {ROWS[k].model["arrangement"] for k in ROWS} >= {"fcn", "ga", "ld", "gald", "ldga", "parallel"}
