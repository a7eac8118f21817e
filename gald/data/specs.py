"""`build_dataset(spec, split)`: the dataset spec strings (`camvid:PATH`, `cityscapes:PATH`, `hf:NAME_OR_PATH`).

Kept apart from the dataset classes so that `datasets.py` never imports `hf.py` (which builds on
`datasets.SegmentationDataset`): the dependency runs one way, `specs -> datasets, hf -> datasets`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .datasets import (
    ON_ERROR_CHOICES,
    VALID_PREFIXES,
    CamVidDataset,
    CityscapesDataset,
    SegmentationDataset,
    Transform,
)
from .loading import DatasetError, LabelMapLike


def build_dataset(
    spec: str,
    split: str,
    transform: Transform | None = None,
    *,
    image_column: str = "image",
    label_column: str = "label",
    on_error: str = "raise",
    label_map: LabelMapLike = None,
    class_names: Sequence[str] | None = None,
) -> SegmentationDataset:
    """Create a dataset from ``camvid:PATH``, ``cityscapes:PATH`` or ``hf:NAME_OR_PATH``.

    ``image_column`` / ``label_column`` / ``label_map`` / ``class_names`` only apply to
    ``hf:`` datasets (the file formats have fixed layouts and mappings).
    """
    if on_error not in ON_ERROR_CHOICES:
        raise ValueError(f"on_error must be one of {ON_ERROR_CHOICES}, got {on_error!r}")
    prefix, sep, target = spec.partition(":")
    prefix = prefix.strip().lower()
    if not sep or not target.strip():
        raise DatasetError(f"invalid dataset spec {spec!r}; expected one of {', '.join(VALID_PREFIXES)}")
    target = target.strip()
    if prefix == "camvid":
        return CamVidDataset(Path(target).expanduser(), split, transform, on_error=on_error)
    if prefix == "cityscapes":
        return CityscapesDataset(Path(target).expanduser(), split, transform, on_error=on_error)
    if prefix == "hf":
        from .hf import HFSegmentationDataset  # lazy: importing `datasets` costs seconds

        return HFSegmentationDataset(
            target,
            split,
            transform,
            image_column=image_column,
            label_column=label_column,
            on_error=on_error,
            label_map=label_map,
            class_names=class_names,
        )
    raise DatasetError(f"unknown dataset prefix {prefix!r} in {spec!r}; valid prefixes: {', '.join(VALID_PREFIXES)}")
