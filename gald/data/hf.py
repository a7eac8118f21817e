"""``hf:`` datasets: Hugging Face ``datasets`` tables with an image and a label column.

Accepted targets, tried in this order:

* a ``save_to_disk`` folder (``load_from_disk``; a DatasetDict is indexed by split),
* a ``.parquet`` file, a folder holding ``{split}.parquet`` / ``{split}-*.parquet`` /
  ``{split}/*.parquet`` / ``data/{split}-*.parquet``, or a glob (``{split}`` in it is
  substituted), read with ``load_dataset("parquet", data_files=...)``,
* otherwise a Hub id, ``load_dataset(NAME, split=split)``.

Class names / palette / an optional label map come from a ``gald_meta.json`` beside
the data (written by :mod:`gald.data.convert_camvid_hf`), or from the caller.

Image columns are re-cast with ``decode=False`` so we decode the bytes ourselves:
that lets a corrupt row raise :class:`DatasetError` naming the row (and its original
path when recorded) instead of an anonymous PIL error deep inside ``datasets``.

This module imports the top-level ``datasets`` package; run the package as
``python -m gald...`` so ``gald/data/datasets.py`` can never shadow it on sys.path.
"""

from __future__ import annotations

import glob
import io
import json
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import datasets as hfds
import numpy as np
from PIL import Image

from .constants import generate_palette
from .datasets import SegmentationDataset, Transform
from .loading import DatasetError, LabelMapLike, load_image, load_label

META_FILENAME = "gald_meta.json"
_GLOB_CHARS = set("*?[")


def _truthy_env(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def hub_reachable(timeout: float = 3.0) -> bool:
    """Cheap TCP probe of the Hub endpoint.

    ``load_dataset`` retries for ~25 s before failing when offline; probing first
    makes the "no network" case fail immediately with a useful message.
    """
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def _load_parquet(files: list[str], source: str) -> hfds.Dataset:
    try:
        return hfds.load_dataset("parquet", data_files=files, split="train")
    except Exception as exc:  # datasets raises many unrelated types for bad files
        raise DatasetError(f"cannot read parquet data {source}: {exc}") from exc


def _parquet_in_folder(folder: Path, split: str) -> list[str]:
    patterns = [
        f"{split}.parquet",
        f"{split}-*.parquet",
        f"{split}/*.parquet",
        f"data/{split}-*.parquet",
        f"data/{split}/*.parquet",
    ]
    for pattern in patterns:
        found = sorted(str(p) for p in folder.glob(pattern))
        if found:
            return found
    return []


def _load_hub(name: str, split: str) -> hfds.Dataset:
    local_hint = (
        "pass a local path instead, e.g. hf:/path/to/save_to_disk_folder or hf:/path/to/parquet_folder "
        "(python -m gald.data.convert_camvid_hf writes one)"
    )
    offline = _truthy_env("HF_HUB_OFFLINE") or _truthy_env("HF_DATASETS_OFFLINE")
    if not offline and not hub_reachable():
        raise DatasetError(
            f"cannot load {name!r}: it is not a local path and the Hugging Face Hub is unreachable "
            f"(no network?); {local_hint}; or set HF_HUB_OFFLINE=1 to use a cached copy"
        )
    try:
        loaded = hfds.load_dataset(name, split=split)
    except Exception as exc:  # network, auth, missing split, ... all end the same way for the user
        raise DatasetError(
            f"cannot load {name!r} split {split!r} from the Hugging Face Hub "
            f"(hub unreachable or dataset/split not found: {exc}); {local_hint}"
        ) from exc
    if not isinstance(loaded, hfds.Dataset):
        raise DatasetError(f"{name!r} did not load as a map-style dataset (streaming is not supported)")
    return loaded


def open_hf_dataset(source: str, split: str) -> tuple[hfds.Dataset, list[Path]]:
    """Resolve ``source`` to a ``datasets.Dataset`` for ``split`` plus folders to search for metadata."""
    source = source.replace("{split}", split)
    if _GLOB_CHARS & set(source):
        files = sorted(glob.glob(os.path.expanduser(source), recursive=True))
        if not files:
            raise DatasetError(f"no files match {source!r}")
        parent = Path(files[0]).parent
        return _load_parquet(files, source), [parent, parent.parent]

    path = Path(source).expanduser()
    if path.is_file():
        if path.suffix != ".parquet":
            raise DatasetError(f"{path} is not a .parquet file")
        return _load_parquet([str(path)], source), [path.parent, path.parent.parent]
    if path.is_dir():
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            try:
                loaded = hfds.load_from_disk(str(path))
            except Exception as exc:  # corrupt arrow files / version mismatches
                raise DatasetError(f"cannot load save_to_disk dataset {path}: {exc}") from exc
            if isinstance(loaded, hfds.DatasetDict):
                if split not in loaded:
                    raise DatasetError(f"split {split!r} not in {path}; available splits: {sorted(loaded)}")
                loaded = loaded[split]
            return loaded, [path, path.parent]
        files = _parquet_in_folder(path, split)
        if files:
            return _load_parquet(files, source), [path, Path(files[0]).parent]
        present = sorted(p.relative_to(path).as_posix() for p in path.rglob("*.parquet"))[:10]
        raise DatasetError(
            f"{path} is neither a save_to_disk folder nor holds parquet files for split {split!r} "
            f"(looked for {split}.parquet, {split}-*.parquet, {split}/*.parquet, data/{split}-*.parquet); "
            f"parquet files present: {present or 'none'}"
        )
    # Hub ids are "name" or "owner/name"; anything more path-like is a missing local path.
    if source.startswith(("/", ".", "~")) or source.count("/") > 1 or os.sep != "/" and os.sep in source:
        raise DatasetError(f"local dataset path {source} does not exist")
    return _load_hub(source, split), []


def _read_meta(folders: Sequence[Path], hub_name: str | None) -> dict[str, Any]:
    for folder in folders:
        candidate = folder / META_FILENAME
        if candidate.is_file():
            try:
                return json.loads(candidate.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise DatasetError(f"cannot parse {candidate}: {exc}") from exc
    if hub_name:
        try:
            from huggingface_hub import hf_hub_download

            return json.loads(Path(hf_hub_download(hub_name, META_FILENAME, repo_type="dataset")).read_text())
        except Exception:  # metadata is optional on the Hub; absence is normal
            return {}
    return {}


class HFSegmentationDataset(SegmentationDataset):
    """Rows of a Hugging Face dataset -> ``(image, label)`` tensors."""

    def __init__(
        self,
        source: str,
        split: str = "train",
        transform: Transform | None = None,
        *,
        image_column: str = "image",
        label_column: str = "label",
        on_error: str = "raise",
        label_map: LabelMapLike = None,
        class_names: Sequence[str] | None = None,
    ) -> None:
        table, meta_dirs = open_hf_dataset(source, split)
        is_hub = not meta_dirs
        meta = _read_meta(meta_dirs, source if is_hub else None)
        missing = [c for c in (image_column, label_column) if c not in table.column_names]
        if missing:
            raise DatasetError(
                f"hf:{source} has no column(s) {missing}; available columns: {table.column_names} "
                "(set image_column / label_column)"
            )
        table = table.select_columns([image_column, label_column])
        for column in (image_column, label_column):
            if isinstance(table.features[column], hfds.Image):
                table = table.cast_column(column, hfds.Image(decode=False))
        if len(table) == 0:
            raise DatasetError(f"hf:{source} split {split!r} is empty")

        names = list(class_names) if class_names is not None else meta.get("class_names")
        if not names:
            raise DatasetError(
                f"hf:{source} has no class names: write a {META_FILENAME} with 'class_names' beside "
                "the data or pass class_names=..."
            )
        palette = meta.get("palette") or []
        if len(palette) < len(names):
            palette = generate_palette(len(names))
        if label_map is None and meta.get("label_map"):
            label_map = {int(k): int(v) for k, v in meta["label_map"].items()}

        self.source = source
        self.split = split
        self.image_column = image_column
        self.label_column = label_column
        self.meta = meta
        self.table = table
        super().__init__(
            names,
            [tuple(c) for c in palette],
            transform,
            label_map=label_map,
            on_error=on_error,
            name=f"hf:{source}[{split}]",
        )

    def __len__(self) -> int:
        return len(self.table)

    def sample_id(self, index: int) -> str:
        return f"{self.name}#{index}"

    @property
    def files(self) -> list[str]:
        """One identifier per row (rows have no stable file path of their own)."""
        return [self.sample_id(i) for i in range(len(self))]

    def _decode(self, value: Any, what: str, sid: str) -> Any:
        """Turn a cell into something load_image/load_label accept, or an ndarray."""
        if isinstance(value, Image.Image):
            return value
        if isinstance(value, dict) and ("bytes" in value or "path" in value):
            if value.get("bytes") is not None:
                return io.BytesIO(value["bytes"])
            if value.get("path"):
                return value["path"]
            raise DatasetError(f"{what} of {sid} has neither bytes nor path")
        if value is None:
            raise DatasetError(f"{what} of {sid} is missing")
        return np.asarray(value)

    def _read(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        row = self.table[index]
        sid = self.sample_id(index)
        image_cell, label_cell = row[self.image_column], row[self.label_column]
        origin = image_cell.get("path") if isinstance(image_cell, dict) else None
        if origin:
            sid = f"{sid} ({origin})"
        image = self._decode(image_cell, "image", sid)
        if isinstance(image, np.ndarray):
            if image.ndim == 2:
                image = np.repeat(image[:, :, None], 3, axis=2)
            if image.ndim != 3 or image.shape[2] != 3:
                raise DatasetError(f"image of {sid} has shape {image.shape}, expected HxWx3")
            image = np.ascontiguousarray(image.astype(np.uint8, copy=False))
        else:
            image = load_image(image, f"image of {sid}")
        label = self._decode(label_cell, "label", sid)
        if not isinstance(label, np.ndarray):
            label = load_label(label, f"label of {sid}")
        if image.shape[:2] != label.shape[:2]:
            raise DatasetError(
                f"label size {label.shape[1]}x{label.shape[0]} differs from image size "
                f"{image.shape[1]}x{image.shape[0]} in {sid}"
            )
        return image, label
