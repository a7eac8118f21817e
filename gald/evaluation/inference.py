"""The one inference path: a checkpoint's model plus what its metadata says about running it.

`gald.evaluate`, `gald.calibrate`, `gald.predict`, `gald.figures`, the reports and the app all turn an image
into the network input through `Inference.preprocess` (or, for a dataset batch that is already normalised,
`scale_input`), so the numbers a model card reports are the numbers of the path the app shows:

    image (H, W, 3) uint8 -> normalise (the checkpoint's mean / std, at full resolution)
                          -> bilinear resize by the checkpoint's input scale (`scale_input`)

Resizing the normalised float tensor (not the uint8 image) is the order the input scale and the class biases
were fitted in (`python -m gald.reports.resize_order` measures both orders on train data).

The network itself runs as `inference_model` leaves it: eval mode, BatchNorm folded into the convolutions
before it, weights in channels-last layout. On a 2-core CPU that is ~1.3x faster (docs/app.md); the logits
move by ~1e-5, and since evaluate and the app both run this form, their class maps stay identical.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..data.constants import IMAGENET_MEAN, IMAGENET_STD, generate_palette
from ..data.transforms import normalize
from ..heads import HEADS, Head
from ..io.checkpoint import load_checkpoint
from ..models.fold_bn import fold_batchnorm
from ..models.galdnet import GALDNet
from .metrics import class_map


def pick_device(name: str, error: type[Exception] = ValueError) -> torch.device:
    """"auto" -> CUDA when available, else CPU; asking for CUDA where there is none raises `error`."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise error("--device cuda requested but CUDA is not available on this machine")
    return torch.device(name)


def inference_model(model: torch.nn.Module, device: torch.device | str) -> torch.nn.Module:
    """`model` (in place) on `device`, in eval mode, with its BatchNorms folded and channels-last weights: the
    form every inference entry point runs (gald.evaluate, calibrate, predict, figures, the app). Not for
    training: the folded model has no BatchNorm left to train."""
    model = model.to(device).eval()
    example = torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(0)).to(device)
    fold_batchnorm(model, example)
    return model.to(memory_format=torch.channels_last)


def head_probabilities(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Softmax of a head's logits bilinearly resized to `size` (the label's / the image's): the one step from
    logits to the probabilities that evaluation averages and both the evaluator and the app take the argmax of."""
    return F.softmax(F.interpolate(logits.float(), size=size, mode="bilinear", align_corners=False), 1)


def scale_input(x: torch.Tensor, scale: float) -> torch.Tensor:
    """A normalised (N, 3, H, W) batch at input `scale`: bilinear, `scale_factor` semantics (floor of H x scale)."""
    if scale == 1.0:
        return x
    return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


@dataclass(frozen=True)
class Preprocessing:
    """Normalisation and input scale, read once from a checkpoint's metadata."""

    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    scale: float = 1.0

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> Preprocessing:
        norm = meta.get("normalization") or {}
        return cls(tuple(norm.get("mean", IMAGENET_MEAN)), tuple(norm.get("std", IMAGENET_STD)),
                   float((meta.get("inference") or {}).get("scale", 1.0)))

    def __call__(self, rgb: np.ndarray, scale: float | None = None) -> torch.Tensor:
        """(H, W, 3) uint8 -> the (1, 3, h, w) network input at `scale` (default: the checkpoint's)."""
        return scale_input(normalize(rgb, self.mean, self.std)[None], self.scale if scale is None else scale)


class Inference:
    """A loaded GALDNet with its class names, palette, preprocessing and heads (no gradio, no files written)."""

    def __init__(self, model: torch.nn.Module, meta: dict[str, Any], device: torch.device | str | None = None
                 ) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = inference_model(model, self.device)
        self.meta = meta
        self.config = model.config
        self.num_classes = self.config.num_classes
        names = meta.get("class_names") or [f"class {i}" for i in range(self.num_classes)]
        self.class_names: list[str] = [str(n) for n in names]
        palette = meta.get("palette") or generate_palette(self.num_classes)
        self.palette = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)[: self.num_classes]
        self.preprocessing = Preprocessing.from_metadata(meta)
        self.void_id = meta.get("void_id")

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: torch.device | str | None = None) -> Inference:
        model, meta = load_checkpoint(path)
        return cls(model, meta, device)

    @property
    def scale(self) -> float:
        return self.preprocessing.scale

    @property
    def heads(self) -> list[Head]:
        """The heads this model has, in display order (probes only when trained with them)."""
        cfg = self.config
        present = {"gald"} | ({"fcn"} if cfg.probes else set()) | ({"ga"} if cfg.probes and cfg.uses_ga else set())
        return [h for h in HEADS if h.key in present]

    def preprocess(self, rgb: np.ndarray, scale: float | None = None) -> torch.Tensor:
        return self.preprocessing(rgb, scale).to(self.device)

    @staticmethod
    def class_maps(logits: dict[str, torch.Tensor], net_size: tuple[int, int], image_size: tuple[int, int]
                   ) -> dict[str, torch.Tensor]:
        """(H, W) class ids per entry of `logits` (feature-resolution maps of one image), computed exactly as
        `gald.evaluate` does: upsampled to the network input (what `GALDNet.forward` returns), then
        `head_probabilities` at the image size, first maximum."""
        out = {}
        for key, value in logits.items():
            at_input = GALDNet.upsample_logits(value.float(), net_size)
            out[key] = class_map(head_probabilities(at_input, image_size))[0]
        return out
