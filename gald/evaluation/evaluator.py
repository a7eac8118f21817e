"""Evaluation of every head (no argparse): per-class, boundary-band and small/large-class IoU, multi-scale /
flip / sliding-window inference at the label's full resolution."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..heads import BY_OUTPUT
from ..progress import progress as progress_bar
from ..training.distributed import DistInfo, all_reduce_sum
from ..training.engine import autocast_context
from .inference import head_probabilities, scale_input
from .metrics import DEFAULT_BAND_WIDTHS, BoundaryIoU, ConfusionMatrix, class_map
from .segments import ErrorDecomposition


def forward_probs(model: nn.Module, image: torch.Tensor, scales: Sequence[float], flip: bool,
                   amp: bool, max_size: int) -> dict[str, torch.Tensor]:
    """Softmax probabilities of every head at the image size, averaged over scales and flips."""
    size = image.shape[-2:]
    total: dict[str, torch.Tensor] = {}
    for s in scales:
        x = scale_input(image, s)
        variants = [x, x.flip(-1)] if flip else [x]
        for i, v in enumerate(variants):
            with autocast_context(v.device, amp):
                logits = sliding_window(model, v, max_size) if max(v.shape[-2:]) > max_size else model(v)
            for key, out in logits.items():
                if key not in BY_OUTPUT:
                    continue
                p = head_probabilities(out, size)
                p = p.flip(-1) if i == 1 else p
                total[key] = total.get(key, 0) + p
    return total


def sliding_window(model: nn.Module, image: torch.Tensor, window: int, overlap: float = 1 / 3
                   ) -> dict[str, torch.Tensor]:
    """Tile an image larger than `window` into overlapping crops and average the logits."""
    _, _, h, w = image.shape
    stride = max(int(window * (1 - overlap)), 1)
    out: dict[str, torch.Tensor] = {}
    count = torch.zeros(1, 1, h, w, device=image.device)
    for top in range(0, max(h - window, 0) + stride, stride):
        for left in range(0, max(w - window, 0) + stride, stride):
            t, l_ = min(top, max(h - window, 0)), min(left, max(w - window, 0))
            crop = image[..., t:t + window, l_:l_ + window]
            for key, v in model(crop).items():
                acc = out.setdefault(key, torch.zeros(v.shape[0], v.shape[1], h, w, device=image.device))
                acc[..., t:t + crop.shape[-2], l_:l_ + crop.shape[-1]] += v.float()
            count[..., t:t + crop.shape[-2], l_:l_ + crop.shape[-1]] += 1
    return {k: v / count for k, v in out.items()}


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, num_classes: int, *, device: torch.device,
             class_names: Sequence[str] | None = None, scales: Sequence[float] = (1.0,), flip: bool = False,
             input_scale: float = 1.0, band_widths: Sequence[int] = DEFAULT_BAND_WIDTHS, amp: bool = False,
             max_size: int = 2048, dist_info: DistInfo | None = None, progress: bool = True,
             error_decomposition: bool = False) -> dict[str, Any]:
    """Evaluate every head. `input_scale` is the checkpoint's inference resolution factor (it multiplies
    the test-time `scales`); metrics are always computed at the label's full resolution. With
    `error_decomposition`, each head's wrong pixels are split into missed / hallucinated segments, boundary
    and interior errors (gald.segments)."""
    model.eval()
    cms: dict[str, ConfusionMatrix] = {}
    bious: dict[str, BoundaryIoU] = {}
    decomps: dict[str, ErrorDecomposition] = {}
    label_counts = torch.zeros(num_classes, dtype=torch.int64)
    n_images = 0
    bar = progress_bar(loader, desc="evaluate", enabled=progress, unit="img")
    for images, labels in bar:
        images, labels = images.to(device), labels.to(device)
        for b in range(images.shape[0]):
            probs = forward_probs(model, images[b:b + 1], [s * input_scale for s in scales], flip, amp, max_size)
            target = labels[b:b + 1]
            if probs and next(iter(probs.values())).shape[-2:] != target.shape[-2:]:
                probs = {k: F.interpolate(v, size=target.shape[-2:], mode="bilinear", align_corners=False)
                         for k, v in probs.items()}
            target_cpu, bands = target.cpu(), None
            for key, p in probs.items():
                head = BY_OUTPUT[key].key
                pred = class_map(p).cpu()
                cms.setdefault(head, ConfusionMatrix(num_classes)).update(pred, target_cpu)
                biou = bious.setdefault(head, BoundaryIoU(num_classes, band_widths))
                bands = bands if bands is not None else biou.bands(target_cpu)  # same label for every head
                biou.update(pred, target_cpu, bands)
                if error_decomposition:
                    band5 = bands[5][0].numpy() if 5 in bands else None
                    decomps.setdefault(head, ErrorDecomposition(num_classes)).update(
                        pred[0].numpy(), target_cpu[0].numpy(), bands=band5)
            valid = target[(target >= 0) & (target < num_classes)]
            label_counts += torch.bincount(valid.cpu().flatten(), minlength=num_classes)
            n_images += 1
    if dist_info is not None and dist_info.enabled:
        for cm in cms.values():
            cm.mat = all_reduce_sum(cm.mat, dist_info)
        for bi in bious.values():
            for cm in bi.matrices.values():
                cm.mat = all_reduce_sum(cm.mat, dist_info)
        for dec in decomps.values():
            summed = all_reduce_sum(torch.tensor(list(dec.counts.values()), dtype=torch.int64), dist_info)
            dec.counts = dict(zip(dec.counts, summed.tolist(), strict=True))
        label_counts = all_reduce_sum(label_counts, dist_info)
        n_images = int(all_reduce_sum(torch.tensor([n_images]), dist_info).item())
    names = list(class_names) if class_names else [str(i) for i in range(num_classes)]
    result: dict[str, Any] = {"heads": {}, "boundary_iou": {}, "num_images": n_images}
    for head, cm in cms.items():
        r = cm.compute()
        result["heads"][head] = {
            "miou": r["miou"], "pixel_accuracy": r["pixel_accuracy"],
            "per_class_iou": dict(zip(names, r["per_class_iou"], strict=True)),
            "confusion_matrix": cm.mat.tolist(),
        }
        result["boundary_iou"][head] = bious[head].compute()
        if head in decomps:
            result.setdefault("error_decomposition", {})[head] = decomps[head].compute()
    share = label_counts.double() / max(int(label_counts.sum()), 1)
    result["class_pixel_share"] = dict(zip(names, share.tolist(), strict=True))
    return result


def summarize_small_large(result: dict[str, Any], small: Sequence[str], large: Sequence[str]) -> None:
    """Add mean IoU over the small and the large classes to each head (in place)."""
    for head in result["heads"].values():
        per = head["per_class_iou"]
        for key, group in (("small_miou", small), ("large_miou", large)):
            vals = [per[c] for c in group if c in per and not math.isnan(per[c])]
            head[key] = sum(vals) / len(vals) if vals else float("nan")
