"""Pixel query: for one pixel of an analysed image, what did each head predict there, what did the LD mask
do, where does a Non-Local GA look from it, and (captum) which pixels drive its prediction?

Everything but the attribution reads the cached forward pass (`Analysis.stages`), so a click costs no
network run; the attribution is one GradCAM pass on a small region around the pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from gald.heads import HEADS, TITLES

from .inference import Analysis, Predictor

HEAD_LOGITS = {h.key: h.stage for h in HEADS}
REGION_RADIUS = 1  # feature cells around the pixel that the attribution explains (3x3 at most)


@dataclass(frozen=True)
class PixelLocation:
    x: int  # image column
    y: int  # image row
    net: tuple[int, int]  # (row, col) at network-input resolution (where the stage logits live)
    feat: tuple[int, int]  # (row, col) at feature resolution (F, F_GA, M)


def locate(analysis: Analysis, x: float, y: float) -> PixelLocation:
    h, w = analysis.image.shape[:2]
    if not (0 <= x < w and 0 <= y < h):
        raise ValueError(f"pixel ({x:g}, {y:g}) is outside the {w}x{h} image")
    nh, nw = analysis.net_size
    fh, fw = analysis.stages["F"].shape[-2:]
    xi, yi = int(x), int(y)
    return PixelLocation(xi, yi, (min(yi * nh // h, nh - 1), min(xi * nw // w, nw - 1)),
                         (min(yi * fh // h, fh - 1), min(xi * fw // w, fw - 1)))


def _bilinear_at(maps: np.ndarray, y: int, x: int, size: tuple[int, int]) -> np.ndarray:
    """(C,) value at image pixel (y, x) of (C, h, w) maps upsampled bilinearly to `size` (align_corners=False,
    as F.interpolate does for the class maps), without upsampling the whole map."""
    _, h, w = maps.shape

    def axis(i: int, n_out: int, n_in: int) -> tuple[int, int, float]:
        src = min(max((i + 0.5) * n_in / n_out - 0.5, 0.0), n_in - 1)
        lo = int(np.floor(src))
        return lo, min(lo + 1, n_in - 1), src - lo

    y0, y1, wy = axis(y, size[0], h)
    x0, x1, wx = axis(x, size[1], w)
    m = maps.astype(np.float64)
    top = m[:, y0, x0] * (1 - wx) + m[:, y0, x1] * wx
    bottom = m[:, y1, x0] * (1 - wx) + m[:, y1, x1] * wx
    return top * (1 - wy) + bottom * wy


def head_probabilities(analysis: Analysis, loc: PixelLocation) -> dict[str, np.ndarray]:
    """Softmax class probabilities of every head at the pixel (from the cached logits, interpolated there the
    way the class maps are, so the most probable class is the one the map shows)."""
    out = {}
    size = analysis.image.shape[:2]
    for head, key in HEAD_LOGITS.items():
        if key in analysis.stages:
            logits = _bilinear_at(analysis.stages[key], loc.y, loc.x, size)
            e = np.exp(logits - logits.max())
            out[head] = e / e.sum()
    return out


def mask_at(analysis: Analysis, loc: PixelLocation, k: int = 3) -> dict[str, Any] | None:
    """The LD mask M at the pixel: mean over channels, the k most and least gated channels."""
    if analysis.mask is None:
        return None
    values = analysis.mask[:, loc.feat[0], loc.feat[1]]
    order = np.argsort(-values)
    return {"mean": float(values.mean()), "top": [(int(c), float(values[c])) for c in order[:k]],
            "bottom": [(int(c), float(values[c])) for c in order[::-1][:k]],
            "image_mean": float(analysis.mask.mean())}


@torch.no_grad()
def nonlocal_attention(pred: Predictor, analysis: Analysis, loc: PixelLocation) -> np.ndarray | None:
    """Where a Non-Local GA looks from this pixel: its attention row, (h', w') in [0, 1] (None for other GAs)."""
    cfg = pred.model.config
    if cfg.ga != "nl" or cfg.arrangement not in ("ga", "gald", "parallel"):
        return None  # (LDGA feeds the GA with LD's output, which is not cached)
    f = torch.from_numpy(analysis.stages["F"].astype(np.float32))[None]
    device = next(pred.model.parameters()).device
    with pred.lock:
        x = pred.model.reduce(f.to(device))
        att = pred.model.context.attention(x)[0]
        kh, kw = pred.model.context.keys_and_values(x).shape[-2:]
    row = att[loc.feat[0] * x.shape[-1] + loc.feat[1]].reshape(kh, kw).float().cpu().numpy()
    return row / max(float(row.max()), 1e-12)


def region_around(analysis: Analysis, loc: PixelLocation, radius: int = REGION_RADIUS) -> tuple[int, int, int, int]:
    fh, fw = analysis.stages["F"].shape[-2:]
    r, c = loc.feat
    return max(r - radius, 0), max(c - radius, 0), min(r + radius + 1, fh), min(c + radius + 1, fw)


def describe(pred: Predictor, analysis: Analysis, loc: PixelLocation, probs: dict[str, np.ndarray],
             mask: dict[str, Any] | None, label: np.ndarray | None) -> str:
    names = pred.class_names
    lines = [f"**Pixel ({loc.x}, {loc.y})** · feature cell {loc.feat} of "
             f"{tuple(analysis.stages['F'].shape[-2:])}"]
    for head, p in probs.items():
        c = int(p.argmax())
        lines.append(f"- {TITLES[head]} head: **{names[c]}** ({100 * p[c]:.1f}%)")
    if label is not None:
        t = int(label[loc.y, loc.x])
        lines.append(f"- ground truth: **{names[t]}**" if t < len(names) else "- ground truth: void (ignored)")
    if mask is not None:
        top = ", ".join(f"{c} ({v:.2f})" for c, v in mask["top"])
        bottom = ", ".join(f"{c} ({v:.2f})" for c, v in mask["bottom"])
        lines.append(f"- LD mask here: mean over channels **{mask['mean']:.3f}** (image mean "
                     f"{mask['image_mean']:.3f}); highest-M channels {top}; lowest {bottom}")
    return "\n".join(lines)


def mark_pixel(picture: np.ndarray, x: int, y: int, size: int = 7) -> np.ndarray:
    """A white cross with a dark outline at (x, y), scaled to the picture (which may be the display size)."""
    out = picture.copy()
    h, w = out.shape[:2]
    for colour, width in (((0, 0, 0), 2), ((255, 255, 255), 1)):
        out[max(y - width + 1, 0):y + width, max(x - size, 0):x + size + 1] = colour
        out[max(y - size, 0):y + size + 1, max(x - width + 1, 0):x + width] = colour
    return out
