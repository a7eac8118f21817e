"""Module structure: no import cycles in the data package, no builder shadowing its own module."""

import ast
import types
from pathlib import Path

import gald.backbones

ROOT = Path(__file__).resolve().parents[2]


def _relative_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level and node.module}


def test_data_package_has_no_import_cycle():
    data = ROOT / "gald" / "data"
    assert "hf" not in _relative_imports(data / "datasets.py")
    assert "datasets" in _relative_imports(data / "hf.py")
    assert {"datasets"} <= _relative_imports(data / "specs.py")


def test_backbone_builders_do_not_shadow_modules():
    assert isinstance(gald.backbones.resnet, types.ModuleType)
    assert isinstance(gald.backbones.efficientnet_lite, types.ModuleType)
    assert all(callable(getattr(gald.backbones, f)) for f in ("build_backbone", "build_resnet",
                                                              "build_efficientnet_lite"))
