"""Connected segments of a label map and the per-head error decomposition they allow.

    decompose_errors(pred, target, num_classes) -> pixel counts of each error kind

Every wrong pixel (prediction != label, label not ignored) gets exactly one kind, in this order:
- `missed_segment`: it lies in a ground-truth segment (4-connected, one class) of which the head labels
  less than `min_overlap` of the pixels with the segment's class: a whole object the head did not see;
- `hallucinated_segment`: it lies in a predicted segment of which less than `min_overlap` of the labelled
  pixels carry that class in the ground truth: an object the head made up;
- `boundary`: within `band` px of a ground-truth boundary: a segment found but its outline wrong;
- `interior`: the rest: a wrong label inside a region the head found.
So "GA over-smooths, LD repairs boundaries and small objects" becomes a number per head.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image

from ..data.constants import IGNORE_INDEX
from .metrics import boundary_band

ERROR_KINDS = ("missed_segment", "hallucinated_segment", "boundary", "interior")


def connected_segments(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """4-connected components of equal labels, without scipy.

    Row runs are found with numpy; runs touching vertically with the same label are merged with a
    small union-find over run ids (a few thousand runs, not pixels). Returns (segment id map (H, W)
    int32 in 0..S-1, class of each segment (S,)).
    """
    h, w = labels.shape
    flat = labels.reshape(h, w)
    starts = np.ones((h, w), dtype=bool)
    starts[:, 1:] = flat[:, 1:] != flat[:, :-1]
    run_id = np.cumsum(starts.ravel()).reshape(h, w) - 1
    n_runs = int(run_id[-1, -1]) + 1
    same = flat[1:] == flat[:-1]
    # an overlap of two vertically touching runs is one (upper, lower) pair: keep its first pixel only
    first = same.copy()
    first[:, 1:] &= starts[:-1, 1:] | starts[1:, 1:] | ~same[:, :-1]
    upper, lower = run_id[:-1][first], run_id[1:][first]
    pairs = np.unique(upper.astype(np.int64) * n_runs + lower)  # 1-D unique: a fast sort, not a row sort
    pairs = np.stack([pairs // n_runs, pairs % n_runs], 1)
    parent = list(range(n_runs))  # plain list: faster than numpy for scalar access

    def find(a: int) -> int:
        root = a
        while parent[root] != root:
            root = parent[root]
        while parent[a] != root:
            parent[a], a = root, parent[a]
        return root

    for a, b in pairs.tolist():
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([find(i) for i in range(n_runs)])
    _, seg_of_run = np.unique(roots, return_inverse=True)
    seg = seg_of_run[run_id].astype(np.int32)
    classes = np.zeros(int(seg.max()) + 1, dtype=np.int64)
    classes[seg.ravel()] = flat.ravel()
    return seg, classes



def segment_mask_stats(pred: np.ndarray, mask_mean: np.ndarray, max_side: int = 240) -> dict[str, np.ndarray]:
    """Mean LD mask per predicted segment vs segment area (Fig. 4's claim: M high inside large patterns).

    Segments are found at most `max_side` pixels on the longer side (cost); the mask is resized to that
    grid bilinearly. Areas are reported in pixels of `pred`. Returns arrays `cls`, `area`, `mean_m`.
    """
    h, w = pred.shape
    factor = max(1, int(np.ceil(max(h, w) / max_side)))
    small = pred[::factor, ::factor]
    seg, classes = connected_segments(small)
    m = mask_mean.astype(np.float32)
    if m.shape != small.shape:
        m = np.asarray(Image.fromarray(m, mode="F").resize(small.shape[::-1], Image.Resampling.BILINEAR))
    count = np.bincount(seg.ravel())
    mean_m = np.bincount(seg.ravel(), weights=m.ravel()) / np.maximum(count, 1)
    keep = classes != IGNORE_INDEX
    return {"cls": classes[keep], "area": count[keep] * float(factor * factor), "mean_m": mean_m[keep]}


def mask_size_correlation(stats: dict[str, np.ndarray]) -> float | None:
    """Correlation of segment mean M with log10(area); None with fewer than 3 segments or a flat mask."""
    area, m = stats["area"], stats["mean_m"]
    if len(area) <= 2 or np.ptp(m) == 0 or np.ptp(np.log10(np.maximum(area, 1))) == 0:
        return None
    return float(np.corrcoef(np.log10(np.maximum(area, 1)), m)[0, 1])


def correlation_summary(values: list[float | None]) -> dict[str, Any]:
    """Per-image mask-vs-size correlations (None: too few segments) -> median, share positive, images counted."""
    corr = np.asarray([v for v in values if v is not None])
    if not len(corr):  # every image had < 3 predicted segments or a flat mask
        return {"corr_per_image_median": None, "positive_share": None, "images": 0}
    return {"corr_per_image_median": float(np.median(corr)), "positive_share": float((corr > 0).mean()),
            "images": int(len(corr))}


def _segment_share(seg: np.ndarray, hit: np.ndarray, weight: np.ndarray, n: int) -> np.ndarray:
    """Per segment: the share of its weighted pixels where `hit` holds."""
    total = np.bincount(seg.ravel(), weights=weight.ravel(), minlength=n)
    good = np.bincount(seg.ravel(), weights=(hit & weight).ravel(), minlength=n)
    return np.where(total > 0, good / np.maximum(total, 1), 1.0)


def error_kind_map(pred: np.ndarray, target: np.ndarray, num_classes: int, *, band: int = 5,
                   min_overlap: float = 0.1, bands: np.ndarray | None = None) -> np.ndarray:
    """(H, W) int8: 0 for correct or ignored pixels, i + 1 for a wrong pixel of kind ERROR_KINDS[i]."""
    if pred.shape != target.shape:
        raise ValueError(f"prediction {pred.shape} and label {target.shape} differ in shape")
    target = target.astype(np.int64)
    valid = (target >= 0) & (target < num_classes)
    wrong = valid & (pred != target)
    kind = np.zeros(target.shape, np.int8)
    gt_seg, gt_cls = connected_segments(np.where(valid, target, IGNORE_INDEX))
    recall = _segment_share(gt_seg, pred == target, valid, len(gt_cls))
    missed = (recall < min_overlap) & (gt_cls != IGNORE_INDEX)
    kind[wrong & missed[gt_seg]] = 1
    pr_seg, pr_cls = connected_segments(pred.astype(np.int64))
    hallucinated = _segment_share(pr_seg, pred == target, valid, len(pr_cls)) < min_overlap
    kind[wrong & (kind == 0) & hallucinated[pr_seg]] = 2
    if bands is None:
        bands = boundary_band(torch.from_numpy(np.where(valid, target, IGNORE_INDEX)), band).numpy()
    kind[wrong & (kind == 0) & bands] = 3
    kind[wrong & (kind == 0)] = 4
    return kind


def decompose_errors(pred: np.ndarray, target: np.ndarray, num_classes: int, *, band: int = 5,
                     min_overlap: float = 0.1, bands: np.ndarray | None = None) -> dict[str, int]:
    """Pixel counts of each error kind plus `correct` and `valid` for one (H, W) prediction and label."""
    kind = error_kind_map(pred, target, num_classes, band=band, min_overlap=min_overlap, bands=bands)
    valid = (target >= 0) & (target < num_classes)
    counts = np.bincount(kind[valid].ravel(), minlength=5)
    return {"valid": int(valid.sum()), "correct": int(counts[0]),
            **{k: int(counts[i + 1]) for i, k in enumerate(ERROR_KINDS)}}


class ErrorDecomposition:
    """Accumulates `decompose_errors` over a split; `compute()` gives each kind as a share of labelled pixels."""

    def __init__(self, num_classes: int, band: int = 5, min_overlap: float = 0.1) -> None:
        self.num_classes, self.band, self.min_overlap = num_classes, band, min_overlap
        self.counts = {k: 0 for k in ("valid", "correct", *ERROR_KINDS)}

    def update(self, pred: np.ndarray, target: np.ndarray, bands: np.ndarray | None = None) -> None:
        for k, v in decompose_errors(pred, target, self.num_classes, band=self.band, min_overlap=self.min_overlap,
                                     bands=bands).items():
            self.counts[k] += v

    def compute(self) -> dict[str, float]:
        valid = max(self.counts["valid"], 1)
        return {**{k: self.counts[k] / valid for k in ERROR_KINDS}, "error": 1 - self.counts["correct"] / valid,
                "band_px": self.band, "min_overlap": self.min_overlap, "pixels": self.counts["valid"]}
