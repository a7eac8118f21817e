"""Checkpoints: weights in safetensors, everything else in a JSON file beside them.

`name.safetensors` + `name.json`. Loading never unpickles: the JSON alone rebuilds the model
(architecture config), the safetensors file only supplies tensors. Writes are atomic (temp file +
rename), weights first and metadata last, so a reader never sees a half-written pair.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..models import GALDConfig, GALDNet
from .state_dict import load_state_strict

FORMAT_NAME = "gald-checkpoint"
FORMAT_VERSION = 1
MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit; larger is a malicious or broken file
MAX_METADATA_BYTES = 10 * 1024 * 1024


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, unsafe, or does not match its metadata."""


def checkpoint_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """Accept `x`, `x.safetensors` or `x.json`; return (weights path, metadata path)."""
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path: str | os.PathLike, model: GALDNet, metadata: dict[str, Any] | None = None, *,
                    dtype: torch.dtype = torch.float32) -> tuple[Path, Path]:
    """Write weights (optionally cast to fp16) and metadata. Returns (weights path, metadata path)."""
    weights_path, meta_path = checkpoint_paths(path)
    state = {k: (v.to(dtype) if v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in model.state_dict().items()}
    meta = dict(metadata or {})
    meta.update(format=FORMAT_NAME, format_version=FORMAT_VERSION, config=model.config.to_dict(),
                storage_dtype=str(dtype).removeprefix("torch."))
    fd, tmp = tempfile.mkstemp(dir=weights_path.parent if weights_path.parent.exists() else None,
                               prefix=f".{weights_path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(state, tmp, metadata={"format": FORMAT_NAME})
        weights_path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, weights_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    atomic_write_bytes(meta_path, json.dumps(meta, indent=2, sort_keys=True, allow_nan=True).encode())
    return weights_path, meta_path


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    _, meta_path = checkpoint_paths(path)
    if not meta_path.is_file():
        raise CheckpointError(f"checkpoint metadata not found: {meta_path}")
    if meta_path.stat().st_size > MAX_METADATA_BYTES:
        raise CheckpointError(f"checkpoint metadata {meta_path} is larger than {MAX_METADATA_BYTES} bytes")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint metadata {meta_path} is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{meta_path} is not a GALD checkpoint (missing \"format\": \"{FORMAT_NAME}\")")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{meta_path} has format_version {meta['format_version']}; this gald reads "
                              f"up to {FORMAT_VERSION}: upgrade gald")
    return meta


def check_safetensors_header(path: Path) -> None:
    """Refuse anything that is not a safetensors file before any parser sees it (pickles, zips, junk)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(9)
    if head[:2] == b"PK" or head[:1] == b"\x80":
        raise CheckpointError(f"{path} looks like a pickle / torch.save file, which is refused for safety "
                              "(it can execute code). Convert it to safetensors in a trusted environment.")
    if len(head) < 9:
        raise CheckpointError(f"{path} is truncated ({size} bytes): not a safetensors file")
    (header_len,) = struct.unpack("<Q", head[:8])
    if header_len > MAX_HEADER_BYTES or header_len + 8 > size or head[8:9] != b"{":
        raise CheckpointError(f"{path} is not a valid safetensors file (header length {header_len}, "
                              f"file size {size}): corrupt, truncated or a different format")


def load_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    weights_path, _ = checkpoint_paths(path)
    if not weights_path.is_file():
        raise CheckpointError(f"checkpoint weights not found: {weights_path}")
    check_safetensors_header(weights_path)
    try:
        return load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"could not read {weights_path}: {exc}") from exc


def load_checkpoint(path: str | os.PathLike, *, map_location: str | torch.device = "cpu"
                    ) -> tuple[GALDNet, dict[str, Any]]:
    """Rebuild the model from metadata alone and load its weights strictly. Returns (model in eval mode, metadata)."""
    meta = read_metadata(path)
    try:
        config = GALDConfig.from_dict(meta["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} has an invalid architecture config: {exc}") from exc
    class_names = meta.get("class_names")
    if class_names is not None and len(class_names) != config.num_classes:
        raise CheckpointError(f"checkpoint {path}: metadata lists {len(class_names)} class names but the "
                              f"config says num_classes={config.num_classes}")
    state = load_weights(path)
    model = GALDNet(config)
    hint = ""
    classifier = model.state_dict()["head.4.weight"].shape[0]
    if "head.4.weight" in state and state["head.4.weight"].shape[0] != classifier:
        hint = (f" The weights have {state['head.4.weight'].shape[0]} classes but the metadata says "
                f"{classifier}: wrong class count.")
    load_state_strict(model, state, what=f"checkpoint {path}", target="its architecture", error=CheckpointError,
                      hint=hint)
    return model.to(map_location).eval(), meta
