"""Joint image/label augmentation on numpy arrays, ending in normalised tensors.

Transforms take an HxWx3 uint8 image and an HxW integer label (already mapped to
train ids, void = ignore_index) and return ``(float32 3xHxW tensor, int64 HxW tensor)``.
Working on numpy keeps them dependency-free (no torchvision / cv2) and cheap in
DataLoader workers; the image is resized with PIL (bilinear, C speed) and the label
with pure-numpy nearest indexing, which works for any integer dtype and can never
invent class ids by interpolation.

Randomness: ``TrainTransform`` draws from ``torch``'s RNG. By default that is the
global torch generator, which ``DataLoader`` seeds differently in every worker from
the main process's seed, so ``torch.manual_seed(s)`` makes a whole run reproducible
and workers never repeat each other's crops. A per-instance ``generator`` is accepted
for single-process use (tests, notebooks); do not pass one when using workers,
since each forked worker would get an identical copy of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from .constants import IGNORE_INDEX, IMAGENET_MEAN, IMAGENET_STD


def _writable(array: np.ndarray) -> np.ndarray:
    # PIL-backed arrays are read-only and torch.from_numpy warns on those.
    array = np.ascontiguousarray(array)
    return array if array.flags.writeable else array.copy()


def _stats(values: Sequence[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).view(3, 1, 1)


def normalize(
    image: np.ndarray,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> torch.Tensor:
    """HxWx3 uint8 -> float32 3xHxW tensor, scaled to [0, 1] then standardised."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 image, got shape {image.shape}")
    tensor = torch.from_numpy(_writable(image)).permute(2, 0, 1).float().div_(255.0)
    return tensor.sub_(_stats(mean)).div_(_stats(std))


def denormalize(
    image: torch.Tensor,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> np.ndarray:
    """Inverse of :func:`normalize` (3xHxW tensor -> HxWx3 uint8), for visualisation."""
    pixels = image.detach().cpu().float() * _stats(std) + _stats(mean)
    pixels = (pixels.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    return pixels.permute(1, 2, 0).numpy()


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of an HxWx3 uint8 image to ``size = (h, w)``."""
    h, w = size
    if image.shape[:2] == (h, w):
        return image
    return np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR))


def resize_label(label: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an HxW label (any integer dtype) to ``size = (h, w)``."""
    h, w = size
    src_h, src_w = label.shape
    if (src_h, src_w) == (h, w):
        return label
    return label[nearest_index(src_h, h)[:, None], nearest_index(src_w, w)[None, :]]


def nearest_index(src: int, dst: int) -> np.ndarray:
    """Source index of each of `dst` output pixels in a nearest resize from `src` pixels: sampled at pixel
    centres, PIL's NEAREST convention. Shared with the on-device pipeline, so both pick the same pixels."""
    return np.minimum(((np.arange(dst) + 0.5) * src / dst).astype(np.int64), src - 1)


def _label_tensor(label: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(_writable(label.astype(np.int64, copy=False)))


class Geometry(NamedTuple):
    """One training sample's augmentation: scale factor, resized (h, w), crop offsets, horizontal flip."""

    scale: float
    size: tuple[int, int]
    top: int
    left: int
    flip: bool


class TrainTransform:
    """Random scale -> random crop (padding when the image is smaller) -> random h-flip.

    Padding is added on the bottom/right. Padded image pixels are exactly 0 after
    normalisation (equivalent to padding with the mean colour) and padded label
    pixels are ``ignore_index`` so they never contribute to the loss.
    """

    def __init__(
        self,
        crop_size: tuple[int, int] = (512, 512),
        scale_range: tuple[float, float] = (0.5, 2.0),
        flip: bool = True,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        ignore_index: int = IGNORE_INDEX,
        generator: torch.Generator | None = None,
    ) -> None:
        if len(crop_size) != 2 or min(crop_size) <= 0:
            raise ValueError(f"crop_size must be (h, w) with positive values, got {crop_size}")
        if not 0 < scale_range[0] <= scale_range[1]:
            raise ValueError(f"scale_range must satisfy 0 < lo <= hi, got {scale_range}")
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.scale_range = (float(scale_range[0]), float(scale_range[1]))
        self.flip = flip
        self.mean = tuple(mean)
        self.std = tuple(std)
        self.ignore_index = ignore_index
        self.generator = generator

    def _uniform(self, lo: float, hi: float) -> float:
        if lo == hi:
            return lo
        return float(torch.empty(()).uniform_(lo, hi, generator=self.generator))

    def _randint(self, high_inclusive: int) -> int:
        if high_inclusive <= 0:
            return 0
        return int(torch.randint(0, high_inclusive + 1, (), generator=self.generator))

    def sample_geometry(self, size: tuple[int, int]) -> Geometry:
        """Draw one sample's scale, crop position and flip for an image of ``size = (h, w)``, in this order
        from ``self.generator``. The on-device pipeline (gald.data.device_pipeline) calls this too, so a
        sample seed gives the same geometry on both paths."""
        h, w = size
        scale = self._uniform(*self.scale_range)
        new_size = (max(1, round(h * scale)), max(1, round(w * scale)))
        crop_h, crop_w = self.crop_size
        # Crop window over the (virtually) padded canvas; only the overlap is copied.
        top = self._randint(max(new_size[0], crop_h) - crop_h)
        left = self._randint(max(new_size[1], crop_w) - crop_w)
        flip = self.flip and self._uniform(0.0, 1.0) < 0.5
        return Geometry(scale, new_size, top, left, flip)

    def __call__(self, image: np.ndarray, label: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        if image.shape[:2] != label.shape:
            raise ValueError(f"image {image.shape[:2]} and label {label.shape} sizes differ")
        geo = self.sample_geometry(label.shape)
        image = resize_image(image, geo.size)
        label = resize_label(label, geo.size)

        crop_h, crop_w = self.crop_size
        top, left = geo.top, geo.left
        image = image[top : top + crop_h, left : left + crop_w]
        label = label[top : top + crop_h, left : left + crop_w]

        if geo.flip:
            image = image[:, ::-1]
            label = label[:, ::-1]

        out_image = torch.zeros((3, crop_h, crop_w), dtype=torch.float32)
        out_label = torch.full((crop_h, crop_w), self.ignore_index, dtype=torch.int64)
        ch, cw = label.shape
        out_image[:, :ch, :cw] = normalize(image, self.mean, self.std)
        out_label[:ch, :cw] = _label_tensor(label)
        return out_image, out_label

    def __repr__(self) -> str:
        return (
            f"TrainTransform(crop_size={self.crop_size}, scale_range={self.scale_range}, "
            f"flip={self.flip}, ignore_index={self.ignore_index})"
        )


class EvalTransform:
    """Deterministic: optionally rescale the image; the label stays at full resolution.

    Metrics are computed at the original resolution, so the model output is expected
    to be upsampled back to the label size.
    """

    def __init__(
        self,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        scale: float = 1.0,
    ) -> None:
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.mean = tuple(mean)
        self.std = tuple(std)
        self.scale = float(scale)

    def __call__(self, image: np.ndarray, label: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        if self.scale != 1.0:
            h, w = image.shape[:2]
            image = resize_image(image, (max(1, round(h * self.scale)), max(1, round(w * self.scale))))
        return normalize(image, self.mean, self.std), _label_tensor(label)

    def __repr__(self) -> str:
        return f"EvalTransform(scale={self.scale})"
