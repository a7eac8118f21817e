"""Low-level decoding and label remapping shared by all dataset formats.

Every decode failure is turned into :class:`DatasetError` carrying the file / sample
name, because "cannot identify image file <_io.BytesIO ...>" is useless when one
file in ten thousand is broken.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageOps

LabelMapLike = Mapping[int, int] | Sequence[int] | np.ndarray | None


class DatasetError(ValueError):
    """Unusable dataset or sample; the message names the offending file / sample."""


def make_lut(label_map: LabelMapLike, default: int | None = None, size: int = 256) -> np.ndarray | None:
    """Build an int64 lookup table from a dict ``{raw: mapped}`` or an existing LUT.

    ``default=None`` keeps unmapped values unchanged; otherwise they become ``default``
    (Cityscapes maps every non-evaluated labelId to the ignore index).
    """
    if label_map is None:
        return None
    if isinstance(label_map, Mapping):
        keys = [int(k) for k in label_map]
        size = max([size, *(k + 1 for k in keys)])
        lut = np.arange(size, dtype=np.int64) if default is None else np.full(size, default, np.int64)
        for raw, mapped in label_map.items():
            lut[int(raw)] = int(mapped)
        return lut
    lut = np.asarray(label_map, dtype=np.int64)
    if lut.ndim != 1:
        raise ValueError(f"a label LUT must be 1-D, got shape {lut.shape}")
    return lut


def apply_lut(label: np.ndarray, lut: np.ndarray | None, default: int | None = None) -> np.ndarray:
    """Map raw label values through ``lut``; values beyond it use ``default`` (or pass through)."""
    label = label.astype(np.int64, copy=False)
    if lut is None:
        return label
    inside = (label >= 0) & (label < len(lut))
    mapped = lut[np.where(inside, label, 0)]
    if inside.all():
        return mapped
    return np.where(inside, mapped, label if default is None else default)


def load_image(source: Any, name: str) -> np.ndarray:
    """Decode an image (path, file object or PIL image) to HxWx3 uint8, honouring EXIF rotation."""
    try:
        image = source if isinstance(source, Image.Image) else Image.open(source)
        image.load()  # force decoding now so truncated files fail here, with the name
        image = ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, ValueError, SyntaxError) as exc:  # PIL's decode errors
        raise DatasetError(f"cannot read image {name}: {exc}") from exc
    return np.asarray(image)


def load_label(source: Any, name: str) -> np.ndarray:
    """Decode a label map without touching its values (L/P -> uint8, I/I;16 -> int32)."""
    try:
        label = source if isinstance(source, Image.Image) else Image.open(source)
        label.load()
    except (OSError, ValueError, SyntaxError) as exc:
        raise DatasetError(f"cannot read label {name}: {exc}") from exc
    if label.mode in ("L", "P"):
        return np.asarray(label, dtype=np.uint8)  # P gives palette indices = class ids
    if label.mode == "1":
        return np.asarray(label, dtype=np.uint8)
    if label.mode == "I" or label.mode.startswith("I;16"):
        return np.asarray(label).astype(np.int32)
    raise DatasetError(
        f"label {name} has mode {label.mode}; expected a single-channel class-id map "
        "(L, P, I or I;16), not a colour-coded image"
    )
