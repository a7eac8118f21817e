"""Segmentation datasets selected by a spec string (``camvid:PATH``, ``cityscapes:PATH``, ``hf:...``).

One spec string is what the CLI, the config files and the app pass around, so every
format hides behind :func:`build_dataset` and the common :class:`SegmentationDataset`
interface (class names, palette, ignore index, ``(image, label)`` tensors).

Bad data policy: every sample is validated when it is read (decodable image,
single-channel label of the same size, label values that are class ids or the
ignore index). Failures raise :class:`DatasetError` naming the file. With
``on_error="skip"`` a bad sample is reported once with ``warnings.warn`` and
``__getitem__`` returns the next valid sample instead (index+1, +2, ... wrapping
around); this keeps ``len()`` stable, which samplers rely on, at the cost of that
neighbour appearing twice in the epoch. Validating lazily (not at construction)
keeps start-up instant on large datasets. ``skipped`` counts distinct bad samples
seen *by this process*: DataLoader workers each hold their own copy.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .constants import (
    CAMVID_CLASSES,
    CAMVID_PALETTE,
    CAMVID_VOID,
    CITYSCAPES_CLASSES,
    CITYSCAPES_LABELID_TO_TRAINID,
    CITYSCAPES_PALETTE,
    IGNORE_INDEX,
)
from .loading import DatasetError, LabelMapLike, apply_lut, load_image, load_label, make_lut
from .transforms import EvalTransform

Transform = Callable[[np.ndarray, np.ndarray], tuple[torch.Tensor, torch.Tensor]]

VALID_PREFIXES = ("camvid:PATH", "cityscapes:PATH", "hf:NAME_OR_PATH")
ON_ERROR_CHOICES = ("raise", "skip")
# image files a CamVid folder may hold (WebP: the compact copies a lent-GPU call carries)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def worker_init_fn(worker_id: int) -> None:
    """Seed ``random`` and ``numpy`` in a DataLoader worker from its torch seed.

    DataLoader already gives every worker a distinct, reproducible torch seed
    (derived from the main process RNG); this propagates it to the other RNGs so
    any numpy/random based code in a worker is reproducible and not duplicated.
    """
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


# --------------------------------------------------------------------------- base class
class SegmentationDataset(torch.utils.data.Dataset):
    """Common behaviour: label mapping, validation, skip-on-error, transform.

    Subclasses implement ``__len__``, ``sample_id(i)`` and ``_read(i)`` returning the
    raw (image uint8 HxWx3, label HxW) arrays.
    """

    ignore_index: int = IGNORE_INDEX

    def __init__(
        self,
        class_names: Sequence[str],
        palette: Sequence[tuple[int, int, int]],
        transform: Transform | None = None,
        *,
        label_map: LabelMapLike = None,
        label_map_default: int | None = None,
        on_error: str = "raise",
        name: str = "dataset",
    ) -> None:
        if on_error not in ON_ERROR_CHOICES:
            raise ValueError(f"on_error must be one of {ON_ERROR_CHOICES}, got {on_error!r}")
        if len(palette) < len(class_names):
            raise ValueError(f"palette has {len(palette)} colours for {len(class_names)} classes")
        self.class_names = list(class_names)
        self.palette = [tuple(int(c) for c in colour) for colour in palette[: len(class_names)]]
        self.transform = transform if transform is not None else EvalTransform()
        self.lut = make_lut(label_map, default=label_map_default)
        self.label_map_default = label_map_default
        self.on_error = on_error
        self.name = name
        self._bad: dict[int, str] = {}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def skipped(self) -> int:
        """Number of distinct bad samples skipped so far (in this process)."""
        return len(self._bad)

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def sample_id(self, index: int) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _read(self, index: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def load_raw(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Validated sample before augmentation: (HxWx3 uint8 image, HxW uint8 train-id label)."""
        image, label = self._read(index)
        sid = self.sample_id(index)
        if label.ndim != 2:
            raise DatasetError(f"label of {sid} must be 2-D, got shape {label.shape}")
        if image.shape[:2] != label.shape:
            raise DatasetError(
                f"label size {label.shape[1]}x{label.shape[0]} differs from image size "
                f"{image.shape[1]}x{image.shape[0]} in {sid}"
            )
        label = apply_lut(label, self.lut, self.label_map_default)
        bad = (label < 0) | ((label >= self.num_classes) & (label != self.ignore_index))
        if bad.any():
            values = np.unique(label[bad])[:10].tolist()
            raise DatasetError(
                f"label values {values} in {sid} are neither class ids 0..{self.num_classes - 1} "
                f"nor the ignore index {self.ignore_index} (missing label_map?)"
            )
        return image, label.astype(np.uint8)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {self.name} with {n} samples")
        index %= n
        for offset in range(n):
            current = (index + offset) % n
            if current in self._bad:
                continue
            try:
                image, label = self.load_raw(current)
            except DatasetError as exc:
                if self.on_error == "raise":
                    raise
                self._bad[current] = str(exc)
                warnings.warn(f"skipping bad sample {self.sample_id(current)}: {exc}", stacklevel=2)
                continue
            return self.transform(image, label)
        raise DatasetError(f"{self.name}: all {n} samples are unreadable")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, n={len(self)}, classes={self.num_classes})"


class FilePairDataset(SegmentationDataset):
    """Samples are (image path, label path) pairs on disk."""

    def __init__(
        self,
        files: Sequence[tuple[Path, Path]],
        *args: Any,
        dropped: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.files = [(Path(i), Path(lab)) for i, lab in files]
        # Samples with missing files, dropped at construction in skip mode.
        self.dropped = list(dropped)
        if not self.files:
            raise DatasetError(f"{self.name}: no usable samples found")

    @property
    def skipped(self) -> int:
        return len(self._bad) + len(self.dropped)

    def __len__(self) -> int:
        return len(self.files)

    def sample_id(self, index: int) -> str:
        return str(self.files[index][0])

    def _read(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        image_path, label_path = self.files[index]
        image = load_image(image_path, str(image_path))
        label = load_label(label_path, str(label_path))
        if image.shape[:2] != label.shape[:2]:
            # Name both files: which one is wrong is not knowable here.
            raise DatasetError(
                f"label {label_path} is {label.shape[1]}x{label.shape[0]} but image "
                f"{image_path} is {image.shape[1]}x{image.shape[0]}"
            )
        return image, label


def _check_pairs(pairs: list[tuple[Path, Path]], on_error: str, what: str) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Split pairs into existing ones and (in skip mode) messages for missing ones."""
    kept, dropped = [], []
    for image_path, label_path in pairs:
        missing = [p for p in (image_path, label_path) if not p.is_file()]
        if not missing:
            kept.append((image_path, label_path))
            continue
        message = f"{what}: missing file {missing[0]}"
        if on_error == "raise":
            raise DatasetError(message)
        warnings.warn(f"skipping sample: {message}", stacklevel=3)
        dropped.append(message)
    return kept, dropped


class CamVidDataset(FilePairDataset):
    """SegNet CamVid layout: ``{split}/``, ``{split}annot/``, optional ``{split}.txt``.

    Label 11 (void) becomes the ignore index; the rest are already train ids.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        transform: Transform | None = None,
        *,
        on_error: str = "raise",
    ) -> None:
        root = Path(root)
        self.root = root
        self.split = split
        if not root.is_dir():
            raise DatasetError(f"CamVid root {root} does not exist")
        pairs = self._list(root, split)
        pairs, dropped = _check_pairs(pairs, on_error, f"CamVid {split}")
        super().__init__(
            pairs,
            CAMVID_CLASSES,
            CAMVID_PALETTE,
            transform,
            label_map={CAMVID_VOID: IGNORE_INDEX},
            on_error=on_error,
            dropped=dropped,
            name=f"camvid:{root}[{split}]",
        )

    @staticmethod
    def _list(root: Path, split: str) -> list[tuple[Path, Path]]:
        listing = root / f"{split}.txt"
        if listing.is_file():
            pairs = []
            for line_no, line in enumerate(listing.read_text().splitlines(), 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 2:
                    raise DatasetError(f"{listing}:{line_no}: expected 'image_path label_path', got {line!r}")
                # Published lists use absolute paths like /SegNet/CamVid/train/x.png:
                # keep only "<folder>/<file>" and resolve it under our root.
                pairs.append(tuple(root.joinpath(*Path(p).parts[-2:]) for p in parts))
            if not pairs:
                raise DatasetError(f"{listing} lists no samples")
            return pairs  # type: ignore[return-value]
        image_dir, label_dir = root / split, root / f"{split}annot"
        for folder in (image_dir, label_dir):
            if not folder.is_dir():
                available = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.endswith("annot"))
                raise DatasetError(
                    f"CamVid split folder {folder} not found (expected {split}/ and {split}annot/; "
                    f"splits present: {available or 'none'})"
                )
        images = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise DatasetError(f"CamVid split {split!r} is empty: no images in {image_dir}")
        return [(p, label_dir / (p.stem + ".png")) for p in images]


class CityscapesDataset(FilePairDataset):
    """``leftImg8bit/{split}/{city}/*_leftImg8bit.png`` + ``gtFine/.../*_gtFine_labelIds.png``.

    labelIds are mapped to the 19 train ids; every other id becomes the ignore index.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        transform: Transform | None = None,
        *,
        on_error: str = "raise",
    ) -> None:
        root = Path(root)
        self.root = root
        self.split = split
        image_dir = root / "leftImg8bit" / split
        if not image_dir.is_dir():
            raise DatasetError(f"Cityscapes folder {image_dir} not found (expected leftImg8bit/{split}/<city>/)")
        images = sorted(image_dir.glob("*/*_leftImg8bit.png"))
        if not images:
            raise DatasetError(f"Cityscapes split {split!r} is empty: no *_leftImg8bit.png under {image_dir}")
        pairs = []
        for image_path in images:
            stem = image_path.name[: -len("_leftImg8bit.png")]
            label = root / "gtFine" / split / image_path.parent.name / f"{stem}_gtFine_labelIds.png"
            pairs.append((image_path, label))
        pairs, dropped = _check_pairs(pairs, on_error, f"Cityscapes {split}")
        super().__init__(
            pairs,
            CITYSCAPES_CLASSES,
            CITYSCAPES_PALETTE,
            transform,
            label_map=CITYSCAPES_LABELID_TO_TRAINID,
            label_map_default=IGNORE_INDEX,
            on_error=on_error,
            dropped=dropped,
            name=f"cityscapes:{root}[{split}]",
        )
