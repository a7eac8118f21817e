"""Checkpoints: hostile or broken files are refused with a clear message, never unpickled."""

from __future__ import annotations

import json
import os
import pickle
import re
import struct
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import PYTHON, REPO, TRACEBACK, Result, free_port, make_checkpoint, short


class Payload:
    """Unpickling this creates `marker`: if the file exists afterwards, code from a checkpoint ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _edit_meta(fn: Callable[[dict], None]) -> Callable[[Path, Path, str], None]:
    def corrupt(weights: Path, meta: Path, marker: str) -> None:
        data = json.loads(meta.read_text())
        fn(data)
        meta.write_text(json.dumps(data))
    return corrupt


def _set_config(**kw: Any) -> Callable[[dict], None]:
    return lambda m: m["config"].update(kw)


def _pickle_weights(protocol: int) -> Callable[[Path, Path, str], None]:
    def corrupt(weights: Path, meta: Path, marker: str) -> None:
        weights.write_bytes(pickle.dumps({"state_dict": Payload(marker)}, protocol=protocol))
    return corrupt


def _torch_save_weights(weights: Path, meta: Path, marker: str) -> None:
    import torch

    torch.save({"state_dict": Payload(marker)}, weights)


def _truncate(keep: float | int) -> Callable[[Path, Path, str], None]:
    def corrupt(weights: Path, meta: Path, marker: str) -> None:
        data = weights.read_bytes()
        weights.write_bytes(data[: keep if isinstance(keep, int) else int(len(data) * keep)])
    return corrupt


def _header(length: int, body: bytes = b"{}") -> Callable[[Path, Path, str], None]:
    def corrupt(weights: Path, meta: Path, marker: str) -> None:
        weights.write_bytes(struct.pack("<Q", length) + body)
    return corrupt


def _bad_offsets(weights: Path, meta: Path, marker: str) -> None:
    data = weights.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    key = next(k for k in header if k != "__metadata__")
    header[key]["data_offsets"][1] += 10**9  # points far past the end of the file
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    weights.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + n:])


def _pickled_meta(weights: Path, meta: Path, marker: str) -> None:
    meta.write_bytes(pickle.dumps(Payload(marker)))


def _huge_meta(weights: Path, meta: Path, marker: str) -> None:
    data = json.loads(meta.read_text())
    data["padding"] = "x" * (11 * 2**20)
    meta.write_text(json.dumps(data))


@dataclass
class CheckpointCase:
    name: str
    corrupt: Callable[[Path, Path, str], None] | None
    error: str | None  # regex of the CheckpointError message; None: must load


CHECKPOINT_CASES: list[CheckpointCase] = [
    CheckpointCase("valid checkpoint (control)", None, None),
    CheckpointCase("pickle payload (protocol 4) as .safetensors", _pickle_weights(4), r"pickle"),
    CheckpointCase("pickle payload (protocol 0, text)", _pickle_weights(0), r"not a valid safetensors|pickle"),
    CheckpointCase("torch.save zip payload as .safetensors", _torch_save_weights, r"pickle"),
    CheckpointCase("pickle payload as metadata .json", _pickled_meta, r"not valid JSON"),
    CheckpointCase("safetensors truncated to 50%", _truncate(0.5), r"safetensors|could not read"),
    CheckpointCase("safetensors truncated to 5 bytes", _truncate(5), r"truncated"),
    CheckpointCase("huge header length (2**40)", _header(2**40), r"not a valid safetensors"),
    CheckpointCase("header length 50 MB, file 10 bytes", _header(50 * 2**20), r"not a valid safetensors"),
    CheckpointCase("header not JSON", _header(8, b"{garbage"), r"could not read|not a valid"),
    CheckpointCase("tensor offsets past end of file", _bad_offsets, r"could not read|not a valid"),
    CheckpointCase("metadata: 5 class names, 11 classes", _edit_meta(lambda m: m.update(class_names=list("abcde"))),
                   r"5 class names but the config says num_classes=11"),
    CheckpointCase("metadata: num_classes 5 vs 11 in weights",
                   _edit_meta(lambda m: (m["config"].update(num_classes=5), m.update(class_names=list("abcde")))),
                   r"wrong class count"),
    CheckpointCase("metadata: unknown backbone", _edit_meta(_set_config(backbone="resnet9000")),
                   r"unknown backbone 'resnet9000'; valid: \["),
    CheckpointCase("metadata: unknown arrangement", _edit_meta(_set_config(arrangement="transformer")),
                   r"unknown arrangement 'transformer'; valid:"),
    CheckpointCase("metadata: unknown config key", _edit_meta(_set_config(evil="__import__('os')")),
                   r"unknown GALDConfig keys \['evil'\]"),
    CheckpointCase("metadata: mid_channels 64 vs 32 in weights", _edit_meta(_set_config(mid_channels=64)),
                   r"does not match its architecture"),
    CheckpointCase("metadata: format_version 99", _edit_meta(lambda m: m.update(format_version=99)),
                   r"upgrade gald"),
    CheckpointCase("metadata: no format marker", _edit_meta(lambda m: m.pop("format")), r"not a GALD checkpoint"),
    CheckpointCase("metadata: 11 MB", _huge_meta, r"larger than"),
    CheckpointCase("metadata: config is a list", _edit_meta(lambda m: m.update(config=["resnet18"])),
                   r"invalid architecture config"),
    CheckpointCase("weights file missing", lambda w, m, k: w.unlink(), r"weights not found"),
]


def run_checkpoint_case(case: CheckpointCase, workdir: Path) -> Result:
    import gald

    d = workdir / re.sub(r"[^A-Za-z0-9]+", "_", case.name).strip("_")
    d.mkdir(parents=True, exist_ok=True)
    marker = d / "PAYLOAD_RAN"
    t0 = time.perf_counter()
    make_checkpoint(d / "ck")
    if case.corrupt is not None:
        case.corrupt(d / "ck.safetensors", d / "ck.json", str(marker))
    expected = "loads" if case.error is None else "CheckpointError, nothing executed"
    try:
        gald.load_checkpoint(d / "ck")
    except gald.CheckpointError as exc:
        observed = f"CheckpointError: {short(str(exc).replace(str(d), '<dir>'), 70)}"
        ok = case.error is not None and re.search(case.error, str(exc)) is not None
        if case.error is not None and not ok:
            observed += f" [message does not match /{case.error}/]"
    except Exception as exc:
        observed, ok = f"{type(exc).__name__} (not CheckpointError): {short(str(exc), 60)}", False
    else:
        observed, ok = "loaded", case.error is None
    if marker.exists():
        observed, ok = observed + " [PAYLOAD EXECUTED]", False
    return Result("checkpoints", case.name, expected, observed, ok, time.perf_counter() - t0)


def checkpoint_results(workdir: Path) -> list[Result]:
    return [run_checkpoint_case(c, workdir) for c in CHECKPOINT_CASES]


def app_refuses_checkpoint(workdir: Path) -> Result:
    """`python app.py --checkpoint <pickle>` exits 2 with a message instead of a traceback or a server."""
    d = workdir / "app_pickle"
    d.mkdir(parents=True, exist_ok=True)
    marker = d / "PAYLOAD_RAN"
    make_checkpoint(d / "ck")
    _pickle_weights(4)(d / "ck.safetensors", d / "ck.json", str(marker))
    t0 = time.perf_counter()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(free_port()), "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.run([PYTHON, "app.py", "--checkpoint", str(d / "ck")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180)
    err = proc.stderr.strip().splitlines()
    ok = proc.returncode == 2 and "pickle" in proc.stderr and not TRACEBACK.search(proc.stderr) and not marker.exists()
    return Result("checkpoints", "app.py --checkpoint <pickle payload>", "exit 2, message, nothing executed",
                  f"exit {proc.returncode}: {short(err[0] if err else '', 70)}"
                  + (" [PAYLOAD EXECUTED]" if marker.exists() else ""), ok, time.perf_counter() - t0)


