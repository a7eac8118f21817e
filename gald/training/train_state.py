"""Resumable training state without pickle.

Optimizer, scheduler and RNG states are nested dicts of tensors and plain values: tensors go to a
safetensors file, the rest to JSON with `{"__tensor__": key}` placeholders. A snapshot is written
into a temporary directory and renamed into place, so a crash (even kill -9) leaves either the
previous complete snapshot or the new one, never a mix.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..io.checkpoint import CheckpointError, check_safetensors_header

SNAPSHOT_PREFIX = "snapshot-"


def flatten_state(obj: Any, tensors: dict[str, torch.Tensor], prefix: str = "") -> Any:
    if isinstance(obj, torch.Tensor):
        key = prefix or "tensor"
        tensors[key] = obj.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        # JSON keys are strings; remember int keys (optimizer state is keyed by param index).
        return {"__dict__": [[k, flatten_state(v, tensors, f"{prefix}.{k}" if prefix else str(k))]
                             for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        items = [flatten_state(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    return obj


def unflatten_state(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__dict__" in obj:
            return {k: unflatten_state(v, tensors) for k, v in obj["__dict__"]}
        if "__tuple__" in obj:
            return tuple(unflatten_state(v, tensors) for v in obj["__tuple__"])
        if "__ndarray__" in obj:
            return np.array(obj["__ndarray__"], dtype=obj["dtype"])
        return {k: unflatten_state(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unflatten_state(v, tensors) for v in obj]
    return obj


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(tuple(tuple(x) if isinstance(x, list) else x for x in state["python"]))
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def write_snapshot(run_dir: Path, step: int, state: dict[str, Any], keep: int = 2) -> Path:
    """Write `state` (model/optimizer/... dicts with tensors) as run_dir/snapshot-<step>/."""
    run_dir.mkdir(parents=True, exist_ok=True)
    final = run_dir / f"{SNAPSHOT_PREFIX}{step:08d}"
    tmp = run_dir / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    tensors: dict[str, torch.Tensor] = {}
    structure = flatten_state(state, tensors)
    save_file(tensors, str(tmp / "state.safetensors"))
    (tmp / "state.json").write_text(json.dumps({"step": step, "state": structure}))
    for f in tmp.iterdir():  # make the data durable before the rename publishes it
        with open(f, "rb") as fh:
            import os

            os.fsync(fh.fileno())
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in sorted(run_dir.glob(f"{SNAPSHOT_PREFIX}*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


# Names of half-written files that a kill during an atomic write leaves behind: ours (".<name>.<random>.tmp",
# ".snapshot-<step>.tmp") and the temporary file safetensors' Rust writer renames into place (".tmpXXXXXX").
STALE_TEMP = re.compile(r"^\.(?:.+\.tmp|tmp[A-Za-z0-9]{6})$")


def remove_stale_temp_files(run_dir: Path) -> list[str]:
    """Delete leftovers of interrupted atomic writes in `run_dir` (call before a run writes anything)."""
    removed = []
    for p in sorted(run_dir.iterdir()) if run_dir.is_dir() else []:
        if STALE_TEMP.match(p.name):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            removed.append(p.name)
    return removed


def latest_snapshot(run_dir: Path) -> Path | None:
    snaps = sorted(p for p in run_dir.glob(f"{SNAPSHOT_PREFIX}*") if (p / "state.json").is_file())
    return snaps[-1] if snaps else None


def read_snapshot(path: Path) -> tuple[int, dict[str, Any]]:
    weights = path / "state.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"snapshot {path} has no state.safetensors")
    check_safetensors_header(weights)
    try:
        meta = json.loads((path / "state.json").read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"snapshot {path}/state.json is corrupt: {exc}") from exc
    return int(meta["step"]), unflatten_state(meta["state"], load_file(str(weights)))
