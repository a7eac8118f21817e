"""Module structure and layering, checked on the AST of every Python file in the repository.

Layers: `gald` (the library) imports neither `app` nor `benchmarks` nor test code; `app` does not import
`benchmarks`; nothing outside tests/ imports test code; no module imports a `_private` name from another
module. Each rule is shown to fire on a planted violation (positive controls), so a checker that silently
matches nothing cannot pass.
"""

from __future__ import annotations

import ast
import types
from pathlib import Path

import pytest

import gald.models.backbones

ROOT = Path(__file__).resolve().parents[2]
SKIP = {".venv", ".git", "checkpoints", "runs", "outputs", "node_modules", "artifacts"}
# modules that only exist inside tests/ (imported there through pytest's prepend import mode)
TEST_MODULES = {"tests", "conftest", "app_helpers", "reliability_cases"}


def python_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.py") if not SKIP.intersection(p.relative_to(root).parts)]


def imports(path: Path, root: Path) -> list[tuple[str, list[str], int]]:
    """(absolute module, imported names, line) of every import in `path`; relative imports resolved."""
    rel = path.relative_to(root).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.append((module, [a.name for a in node.names], node.lineno))
    return found


def violations(root: Path) -> list[str]:
    found = []
    for path in python_files(root):
        rel = path.relative_to(root)
        layer = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        for module, names, line in imports(path, root):
            top = module.split(".")[0]
            where = f"{rel}:{line}"
            if layer == "gald" and top in {"app", "benchmarks"} | TEST_MODULES:
                found.append(f"{where}: the library imports {module}")
            if layer == "app" and top == "benchmarks":
                found.append(f"{where}: the app imports {module}")
            if layer != "tests" and top in TEST_MODULES:
                found.append(f"{where}: {layer} imports test code {module}")
            if module != "__future__":
                found += [f"{where}: private name {n} imported from {module}" for n in names
                          if n.startswith("_") and not n.startswith("__")]
    return found


def test_repository_respects_the_layers():
    assert violations(ROOT) == []


@pytest.mark.parametrize("path, source, expected", [
    ("gald/bad.py", "from app.inference import Predictor\n", "the library imports app.inference"),
    ("gald/sub/bad.py", "from ...benchmarks import app_speed\n", "the library imports benchmarks"),
    ("app/bad.py", "import benchmarks.app_speed\n", "the app imports benchmarks.app_speed"),
    ("benchmarks/bad.py", "import reliability_cases as rc\n", "imports test code reliability_cases"),
    ("gald/bad.py", "from .io.checkpoint import _check_header\n", "private name _check_header"),
])
def test_each_rule_fires_on_a_planted_violation(tmp_path, path, source, expected):
    target = tmp_path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source)
    (tmp_path / "gald").mkdir(exist_ok=True)
    (tmp_path / "gald" / "ok.py").write_text("from __future__ import annotations\nfrom .io import checkpoint\n")
    found = violations(tmp_path)
    assert len(found) == 1 and expected in found[0], found


def test_data_package_has_no_import_cycle():
    data = ROOT / "gald" / "data"
    modules = {p.stem: {m for m, _, _ in imports(p, ROOT)} for p in data.glob("*.py")}
    assert "gald.data.hf" not in modules["datasets"]
    assert "gald.data.datasets" in modules["hf"]


def test_backbone_builders_do_not_shadow_modules():
    backbones = gald.models.backbones
    assert isinstance(backbones.resnet, types.ModuleType)
    assert isinstance(backbones.efficientnet_lite, types.ModuleType)
    assert all(callable(getattr(backbones, f)) for f in ("build_backbone", "build_resnet", "build_efficientnet_lite"))
