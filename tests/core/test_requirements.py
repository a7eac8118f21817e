"""requirements.txt names every third-party package the library and the app import (not one that arrives
through another package's dependencies by luck, as matplotlib did through captum)."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# import name -> the requirement that provides it; gradio's own stack (its client, the Hub library, the starlette
# server app/limits.py adds middleware to) comes with the pinned gradio, whose pin fixes their versions
IMPORT_TO_DISTRIBUTION = {"PIL": "pillow", "yaml": "pyyaml", "gradio_client": "gradio", "huggingface_hub": "gradio",
                          "starlette": "gradio", "pyarrow": "datasets"}
LOCAL = {"gald", "app", "benchmarks", "tests"}
# training / developer modules whose dependencies requirements-dev.txt names (not needed to run the app): the
# `hf:` dataset reader and the CamVid converter (Hugging Face `datasets`)
DEV_TOOLS = {"gald/data/convert_camvid_hf.py", "gald/data/hf.py"}


def required_imports(folders: list[Path]) -> dict[str, list[Path]]:
    """Top-level modules -> the files importing them outside `try: ... except ImportError` (optional imports)."""
    found: dict[str, list[Path]] = {}
    for path in (p for folder in folders for p in folder.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        optional = {id(n) for t in ast.walk(tree) if isinstance(t, ast.Try) for b in t.body for n in ast.walk(b)}
        for node in ast.walk(tree):
            if id(node) in optional:
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in LOCAL:
                    found.setdefault(top, []).append(path)
    return found


def requirement_names(text: str) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0].lower()
            for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")}


def test_requirements_name_every_import():
    declared = requirement_names((ROOT / "requirements.txt").read_text())
    dev = declared | requirement_names((ROOT / "requirements-dev.txt").read_text())
    imports = required_imports([ROOT / "gald", ROOT / "app"])
    missing = {top: path.relative_to(ROOT).as_posix() for top, paths in imports.items() for path in paths
               if IMPORT_TO_DISTRIBUTION.get(top, top).lower().replace("_", "-")
               not in (dev if path.relative_to(ROOT).as_posix() in DEV_TOOLS else declared)}
    assert not missing, f"imported but not in requirements.txt: {missing}"


def test_the_check_can_fail(tmp_path):
    (tmp_path / "mod.py").write_text("import numpy\nimport matplotlib.pyplot\ntry:\n    import spaces\nexcept ImportError:\n"
                                     "    pass\nfrom . import sibling\n")
    assert set(required_imports([tmp_path])) == {"numpy", "matplotlib"}
    assert "matplotlib" not in requirement_names("numpy>=1\n# matplotlib\ncaptum==0.9.0\n")
