"""The on-device training pipeline (gald.data.device_pipeline) against the CPU path (TrainTransform): the same
geometry per sample seed (labels identical, images within PIL's rounding), the recipe's distribution of
scales, crops and flips, ignore at pads, labels never interpolated, and a fixed seed giving a fixed batch.
Run on the CPU: the pipeline is device-agnostic torch code."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gald.data import IGNORE_INDEX, TrainTransform
from gald.data.device_pipeline import DeviceTrainData
from gald.data.sampling import ResumableSampler

H, W, CROP = 36, 48, (30, 40)
SCALES = (0.5, 2.0)


def _images(n: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Smooth images (bilinear resampling is compared on them) and labels with 7 classes + void, whose
    values encode the column band so geometry can be read back from a crop."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    images, labels = [], []
    for _ in range(n):
        phase = rng.uniform(0, 6, size=3)
        img = np.stack([127 + 120 * np.sin(xx / (5 + c) + yy / 7 + phase[c]) for c in range(3)], -1)
        images.append(np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8))
        lab = (xx // 7).astype(np.uint8)  # 0..6, left to right
        lab[rng.random((H, W)) < 0.05] = IGNORE_INDEX
        labels.append(lab)
    return np.stack(images), np.stack(labels)


def _pipeline(images: np.ndarray, labels: np.ndarray, **kw) -> tuple[DeviceTrainData, TrainTransform]:
    tf = TrainTransform(CROP, SCALES, **kw)
    data = DeviceTrainData(torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels), tf)
    return data, tf


def test_same_geometry_as_the_cpu_path_per_sample_seed():
    images, labels = _images()
    data, tf = _pipeline(images, labels)
    items = [(i % len(images), 1000 + i) for i in range(48)]
    dev_x, dev_y = data.batch(items)
    pixel_diffs = []
    for b, (index, seed) in enumerate(items):
        tf.generator = torch.Generator().manual_seed(seed)
        cpu_x, cpu_y = tf(images[index], labels[index])
        assert torch.equal(dev_y[b], cpu_y), f"labels differ for sample {b}"  # same scale, crop, flip, pads
        std = torch.tensor(tf.std).view(3, 1, 1) * 255
        pixel_diffs.append(((dev_x[b] - cpu_x) * std).abs())
    diffs = torch.stack(pixel_diffs)
    # PIL resamples in 8-bit fixed point, torch in float: off by one grey level on a few pixels at most
    assert diffs.max() <= 2.01 and diffs.mean() < 0.3, (diffs.max(), diffs.mean())


def test_fixed_seed_gives_a_fixed_batch_and_another_seed_another():
    images, labels = _images()
    data, _ = _pipeline(images, labels)

    def first_batch(seed: int):
        sampler = ResumableSampler(len(images), 4, seed=seed)
        return next(iter(data.loader(sampler, 4)))

    a, b, c = first_batch(3), first_batch(3), first_batch(4)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])
    assert a[0].shape == (4, 3, *CROP) and a[0].dtype == torch.float32 and a[1].dtype == torch.int64


def test_distribution_of_scales_crops_flips_and_ignore_at_pads():
    images, labels = _images(n=4)
    data, tf = _pipeline(images, labels)
    n = 400
    items = [(i % 4, 7 + i) for i in range(n)]
    x, y = data.batch(items)
    geos = []
    for _, seed in items:  # the draws the batch used (the same function, the same seeds)
        tf.generator = torch.Generator().manual_seed(seed)
        geos.append(tf.sample_geometry((H, W)))
    scales = np.array([g.scale for g in geos])
    assert SCALES[0] <= scales.min() and scales.max() <= SCALES[1]
    assert abs(np.mean(scales) - np.mean(SCALES)) < 0.1  # uniform over the range
    flips = np.array([g.flip for g in geos])
    assert 0.4 < flips.mean() < 0.6
    # crop positions: uniform over the canvas, so both ends of the range occur
    lefts = np.array([g.left / max(g.size[1] - CROP[1], 1) for g in geos if g.size[1] > CROP[1] + 10])
    assert lefts.min() < 0.1 and lefts.max() > 0.9 and 0.4 < lefts.mean() < 0.6
    input_values = set(np.unique(labels).tolist())
    assert set(torch.unique(y).tolist()) <= input_values  # nothing invented between classes
    for b, g in enumerate(geos):
        h, w = min(CROP[0], g.size[0] - g.top), min(CROP[1], g.size[1] - g.left)
        assert (y[b, h:, :] == IGNORE_INDEX).all() and (y[b, :, w:] == IGNORE_INDEX).all()
        assert (x[b, :, h:, :] == 0).all() and (x[b, :, :, w:] == 0).all()
        valid = y[b, :h, :w]
        band = valid[valid != IGNORE_INDEX].float()
        if g.flip and band.numel():  # column bands run right to left after a flip
            row = valid[0][valid[0] != IGNORE_INDEX]
            assert (row[1:] <= row[:-1]).all()


def test_from_dataset_decodes_once_and_refuses_mixed_sizes():
    class Fake:
        def __init__(self, sizes):
            self.sizes = sizes

        def __len__(self):
            return len(self.sizes)

        def sample_id(self, i):
            return f"sample{i}"

        def load_raw(self, i):
            h, w = self.sizes[i]
            return np.full((h, w, 3), i, np.uint8), np.full((h, w), i, np.uint8)

    tf = TrainTransform(CROP, SCALES)
    data = DeviceTrainData.from_dataset(Fake([(H, W)] * 3), tf, "cpu", threads=2)
    assert len(data) == 3 and data.images.dtype == torch.uint8 and data.images[2].unique().tolist() == [2]
    with pytest.raises(ValueError, match="sample1 is 20x10"):
        DeviceTrainData.from_dataset(Fake([(H, W), (10, 20)]), tf, "cpu")
