"""Data loading for GALD Studio: spec-string datasets, augmentation, class metadata.

    ds = build_dataset("camvid:/data/camvid", "train", TrainTransform(crop_size=(360, 480)))
    image, label = ds[0]   # float32 3xHxW (ImageNet-normalised), int64 HxW (255 = ignore)

The Hugging Face backed dataset (``hf:``) lives in :mod:`gald.data.hf` and is imported
lazily by :func:`build_dataset`, so importing this package stays cheap.
"""

from .constants import (
    CAMVID_CLASSES,
    CAMVID_PALETTE,
    CITYSCAPES_CLASSES,
    CITYSCAPES_LABELID_TO_TRAINID,
    CITYSCAPES_PALETTE,
    IGNORE_INDEX,
    IMAGENET_MEAN,
    IMAGENET_STD,
    LARGE_CAMVID_CLASSES,
    SMALL_CAMVID_CLASSES,
    generate_palette,
)
from .datasets import VALID_PREFIXES, CamVidDataset, CityscapesDataset, SegmentationDataset, worker_init_fn
from .loading import DatasetError, apply_lut, load_image, load_label, make_lut
from .specs import build_dataset
from .transforms import EvalTransform, TrainTransform, denormalize, normalize, resize_image, resize_label

__all__ = [
    "CAMVID_CLASSES",
    "CAMVID_PALETTE",
    "CITYSCAPES_CLASSES",
    "CITYSCAPES_LABELID_TO_TRAINID",
    "CITYSCAPES_PALETTE",
    "IGNORE_INDEX",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LARGE_CAMVID_CLASSES",
    "SMALL_CAMVID_CLASSES",
    "VALID_PREFIXES",
    "CamVidDataset",
    "CityscapesDataset",
    "DatasetError",
    "EvalTransform",
    "SegmentationDataset",
    "TrainTransform",
    "apply_lut",
    "build_dataset",
    "denormalize",
    "generate_palette",
    "load_image",
    "load_label",
    "make_lut",
    "normalize",
    "resize_image",
    "resize_label",
    "worker_init_fn",
]
