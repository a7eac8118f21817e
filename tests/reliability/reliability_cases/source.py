"""Source: no unsafe deserialisation call in the project's code."""

from __future__ import annotations

import ast
import time
from pathlib import Path

from .common import REPO, Result, short

SOURCE_ROOTS = ("gald", "app", "benchmarks", "app.py")


def unsafe_load_calls(root: Path = REPO, roots: tuple[str, ...] = SOURCE_ROOTS) -> list[str]:
    """`file:line: call` for every torch.load without weights_only=True, and every pickle.load(s) / np.load
    with allow_pickle=True, in the repository's runtime Python files (parsed, so comments do not count)."""
    files: list[Path] = []
    for r in roots:
        p = root / r
        files += [p] if p.is_file() else sorted(p.rglob("*.py"))
    problems = []
    for f in files:
        tree = ast.parse(f.read_text(encoding="utf-8"), filename=str(f))
        torch_load_names = {"torch.load"}
        for node in ast.walk(tree):  # `from torch import load [as x]`
            if isinstance(node, ast.ImportFrom) and node.module == "torch":
                torch_load_names |= {a.asname or a.name for a in node.names if a.name == "load"}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            kw = {k.arg: k.value for k in node.keywords if k.arg}
            is_true = {k: isinstance(v, ast.Constant) and v.value is True for k, v in kw.items()}
            bad = ((name in torch_load_names and not is_true.get("weights_only"))
                   or name in ("pickle.load", "pickle.loads", "cPickle.load", "dill.load")
                   or (name in ("np.load", "numpy.load") and "allow_pickle" in kw
                       and not (isinstance(kw["allow_pickle"], ast.Constant) and kw["allow_pickle"].value is False)))
            if bad:
                problems.append(f"{f.relative_to(root)}:{node.lineno}: {short(ast.unparse(node), 100)}")
    return problems


def source_results() -> list[Result]:
    t0 = time.perf_counter()
    problems = unsafe_load_calls()
    n = sum(1 for r in SOURCE_ROOTS for _ in ([REPO / r] if (REPO / r).is_file() else (REPO / r).rglob("*.py")))
    return [Result("source", f"torch.load / pickle in {n} files", "all torch.load(weights_only=True), no pickle",
                   "; ".join(problems) or "none found", not problems, time.perf_counter() - t0)]


