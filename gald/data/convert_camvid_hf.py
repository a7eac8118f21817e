"""Convert a SegNet-layout CamVid folder into a self-contained Hugging Face dataset.

    python -m gald.data.convert_camvid_hf --root /data/camvid --out /data/camvid_hf [--format disk|parquet]

Why: a single portable artefact (shareable, Hub-uploadable, loadable with
``build_dataset("hf:/data/camvid_hf", split)``) that no longer depends on the
original folder.

What is written:

* ``image``: the original image file bytes, embedded (bit-exact, no re-encoding);
* ``label``: a PNG (mode L) of the label with CamVid's void value 11 already
  rewritten to 255 (the ignore index), so no label map is needed when loading;
* ``gald_meta.json`` beside the data: class names, palette, ignore index, split sizes.

``--format disk`` -> ``save_to_disk`` DatasetDict in ``OUT``; ``--format parquet`` ->
``OUT/{split}.parquet``. Both embed bytes: a path-backed ``Image()`` column would
serialise only file paths (e.g. via ``to_parquet``), which silently breaks once the
source folder moves, so every written file is re-read and checked for null bytes.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import datasets as hfds
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from .constants import CAMVID_CLASSES, CAMVID_PALETTE, CAMVID_VOID, IGNORE_INDEX
from .datasets import CamVidDataset
from .hf import META_FILENAME
from .loading import DatasetError

FEATURES = hfds.Features({"image": hfds.Image(), "label": hfds.Image()})
DEFAULT_SPLITS = ("train", "val", "test")


def _png_bytes(label: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(label.astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def camvid_split_to_hf(root: str | Path, split: str) -> hfds.Dataset:
    """One split as an in-memory ``datasets.Dataset`` with embedded image/label bytes."""
    source = CamVidDataset(root, split)  # listing + validation; void -> 255 happens in load_raw
    images, labels = [], []
    for index, (image_path, _label_path) in enumerate(source.files):
        _image, label = source.load_raw(index)  # raises DatasetError naming a bad file
        relative = image_path.relative_to(Path(root)).as_posix() if image_path.is_relative_to(root) else image_path.name
        # "path" is only an identifier for error messages; "bytes" is what gets decoded.
        images.append({"bytes": image_path.read_bytes(), "path": relative})
        labels.append({"bytes": _png_bytes(label), "path": relative})
    return hfds.Dataset.from_dict({"image": images, "label": labels}, features=FEATURES)


def _check_embedded(table: pa.Table, where: str) -> None:
    for column in ("image", "label"):
        nulls = table.column(column).combine_chunks().field("bytes").null_count
        if nulls:
            raise RuntimeError(f"{where}: {nulls} rows of column {column!r} have no embedded bytes")


def convert_camvid(
    root: str | Path,
    out: str | Path,
    fmt: str = "disk",
    splits: list[str] | None = None,
    overwrite: bool = False,
) -> dict[str, int]:
    """Convert ``splits`` (default: whichever of train/val/test exist) and return their sizes."""
    root, out = Path(root), Path(out)
    if fmt not in ("disk", "parquet"):
        raise ValueError(f"format must be 'disk' or 'parquet', got {fmt!r}")
    if not root.is_dir():
        raise DatasetError(f"CamVid root {root} does not exist")
    if splits is None:
        splits = [s for s in DEFAULT_SPLITS if (root / s).is_dir() or (root / f"{s}.txt").is_file()]
        if not splits:
            raise DatasetError(f"no train/val/test split found in {root}")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} is not empty; pass --overwrite to write into it")
    out.mkdir(parents=True, exist_ok=True)

    converted = {split: camvid_split_to_hf(root, split) for split in splits}
    if fmt == "disk":
        hfds.DatasetDict(converted).save_to_disk(str(out))
        reloaded = hfds.load_from_disk(str(out))
        for split in splits:
            _check_embedded(reloaded[split].data.table, f"{out}[{split}]")
    else:
        for split, dataset in converted.items():
            target = out / f"{split}.parquet"
            dataset.to_parquet(str(target))
            _check_embedded(pq.read_table(target, columns=["image", "label"]), str(target))

    sizes = {split: len(dataset) for split, dataset in converted.items()}
    meta = {
        "name": "CamVid (SegNet split)",
        "class_names": CAMVID_CLASSES,
        "palette": [list(c) for c in CAMVID_PALETTE],
        "ignore_index": IGNORE_INDEX,
        "image_column": "image",
        "label_column": "label",
        "label_note": f"raw CamVid void ({CAMVID_VOID}) is already written as {IGNORE_INDEX}; no label_map needed",
        "label_map": {},
        "splits": sizes,
        "format": fmt,
    }
    (out / META_FILENAME).write_text(json.dumps(meta, indent=2) + "\n")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, help="SegNet CamVid folder (train/, trainannot/, ...)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--format", choices=("disk", "parquet"), default="disk")
    parser.add_argument("--splits", nargs="+", default=None, help="default: train val test, those present")
    parser.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty --out")
    args = parser.parse_args(argv)
    try:
        sizes = convert_camvid(args.root, args.out, args.format, args.splits, args.overwrite)
    except (DatasetError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    summary = ", ".join(f"{split}={n}" for split, n in sizes.items())
    print(f"wrote {args.format} dataset to {args.out} ({summary}); load with hf:{args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
