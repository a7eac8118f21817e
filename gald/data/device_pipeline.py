"""Training data that lives on the accelerator: the train split decoded once into uint8 tensors on the
device, and each batch augmented there (`data.on_device: true` in a training config).

Why: on a lent GPU the CPU loader (decode a JPEG, resize with PIL, crop, flip, normalise, copy to the device)
kept the GPU waiting (benchmarks/RESULTS.md, GPU pilot: 62-135 img/s). CamVid's 367 train images are 190 MB
as uint8, nothing for a GPU's memory, so they are decoded once and every later step only indexes them.

The augmentation is the recipe of :class:`gald.data.TrainTransform`, and draws its randomness through it:
for each ``(index, sample seed)`` from the trainer's :class:`gald.data.sampling.ResumableSampler`, the geometry
(scale in ``scale_range``, crop position over the padded canvas, horizontal flip) comes from
``TrainTransform.sample_geometry`` with a generator seeded by the sample seed, exactly as the CPU path draws
it. So the same run gets the same scales, crops and flips on either path, and a fixed seed gives a fixed
batch. Images are resized bilinearly with antialiasing (``F.interpolate(antialias=True)``, PIL's filter)
and rounded to integers as PIL does; labels pick the source pixels of :func:`gald.data.transforms.nearest_index`,
the CPU path's own rule, so a label value is never interpolated. Padding: image 0 after normalisation (the
mean colour), label ``ignore_index``.

What differs from the CPU path: the bilinear arithmetic (PIL's 8-bit fixed point vs float here), a rounding
step of at most 1 grey level on some pixels; images must all have one size (CamVid's do), else use the CPU
loader.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

from .transforms import TrainTransform, nearest_index


class DeviceTrainData:
    """uint8 images (N, 3, H, W) and labels (N, H, W) on one device, and the recipe to augment them."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform: TrainTransform) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be uint8 (N, 3, H, W), got {tuple(images.shape)} {images.dtype}")
        if labels.shape != (images.shape[0], *images.shape[2:]):
            raise ValueError(f"labels {tuple(labels.shape)} do not match images {tuple(images.shape)}")
        self.images, self.labels, self.device = images, labels, images.device
        # a private copy: its generator is re-seeded per sample, which must not touch the dataset's transform
        self.transform = copy.copy(transform)
        self.mean = torch.tensor(transform.mean, device=self.device).view(1, 3, 1, 1) * 255.0
        self.std = torch.tensor(transform.std, device=self.device).view(1, 3, 1, 1) * 255.0

    @classmethod
    def from_dataset(cls, dataset, transform: TrainTransform, device: torch.device | str,
                     threads: int = 8) -> DeviceTrainData:
        """Decode every sample of a SegmentationDataset (validated, labels mapped: `load_raw`) in `threads`
        threads (PIL releases the GIL while decoding) and move the stack to `device`."""
        n = len(dataset)
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            samples = list(pool.map(dataset.load_raw, range(n)))
        size = samples[0][0].shape[:2]
        for i, (image, _label) in enumerate(samples):
            if image.shape[:2] != size:
                raise ValueError(f"data.on_device needs images of one size: {dataset.sample_id(i)} is "
                                 f"{image.shape[1]}x{image.shape[0]}, the first is {size[1]}x{size[0]}; "
                                 "use the CPU loader (data.on_device: false)")
        images = torch.from_numpy(np.stack([s[0] for s in samples])).permute(0, 3, 1, 2).contiguous()
        labels = torch.from_numpy(np.stack([s[1] for s in samples]))
        return cls(images.to(device), labels.to(device), transform)

    def __len__(self) -> int:
        return self.images.shape[0]

    def batch(self, items: Sequence[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """(index, sample seed) pairs -> (float32 B x 3 x crop, int64 B x crop), as TrainTransform makes them."""
        tf = self.transform
        crop_h, crop_w = tf.crop_size
        src_h, src_w = self.images.shape[-2:]
        out_images = torch.zeros(len(items), 3, crop_h, crop_w, device=self.device)
        out_labels = torch.full((len(items), crop_h, crop_w), tf.ignore_index, dtype=torch.int64, device=self.device)
        for b, (index, seed) in enumerate(items):
            tf.generator = torch.Generator().manual_seed(int(seed))
            geo = tf.sample_geometry((src_h, src_w))
            (new_h, new_w), top, left = geo.size, geo.top, geo.left
            rows = nearest_index(src_h, new_h)[top:top + crop_h]
            cols = nearest_index(src_w, new_w)[left:left + crop_w]
            h, w = len(rows), len(cols)  # the overlap of the crop window with the scaled image
            image = self.images[index:index + 1].float()
            if (new_h, new_w) != (src_h, src_w):
                # only the rows/columns the crop keeps (plus the filter's reach) would be needed; the whole
                # image is resized because it costs little on a GPU and keeps PIL's border handling exact
                image = F.interpolate(image, size=(new_h, new_w), mode="bilinear", antialias=True,
                                      align_corners=False).round_().clamp_(0, 255)
            image = image[..., top:top + h, left:left + w]
            label = self.labels[index][torch.as_tensor(rows, device=self.device)[:, None],
                                       torch.as_tensor(cols, device=self.device)[None, :]]
            if geo.flip:
                image, label = image.flip(-1), label.flip(-1)
            out_images[b:b + 1, :, :h, :w] = (image - self.mean) / self.std
            out_labels[b, :h, :w] = label
        return out_images, out_labels

    def loader(self, sampler: Iterable[tuple[int, int]], batch_size: int) -> DeviceLoader:
        return DeviceLoader(self, sampler, batch_size)


class DeviceLoader:
    """Iterable like the trainer's DataLoader (drop_last): each iteration walks the sampler afresh, so the
    sampler's position (epoch, start batch; set by the trainer, also on resume) decides the batches."""

    def __init__(self, data: DeviceTrainData, sampler: Iterable[tuple[int, int]], batch_size: int) -> None:
        self.data, self.sampler, self.batch_size = data, sampler, batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        items: list[tuple[int, int]] = []
        for item in self.sampler:
            items.append(item)
            if len(items) == self.batch_size:
                yield self.data.batch(items)
                items = []
