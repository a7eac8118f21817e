"""Pictures as pure numpy functions: palette colouring, overlays, heatmaps, disagreement maps, segments.

All inputs and outputs are arrays (uint8 RGB images, (H, W) label maps with 255 = ignore, float maps
in [0, 1]); no model, no gradio, no matplotlib. Cheap enough to rerun on every slider move.
"""

from __future__ import annotations

import html

import numpy as np
from matplotlib import colormaps
from PIL import Image

from gald.data.constants import IGNORE_INDEX
from gald.evaluation.segments import connected_segments, segment_mask_stats  # noqa: F401 (this module's API)

# matplotlib's viridis as a 256-entry uint8 lookup table (the same map as gald.figures' PDF figures)
VIRIDIS = (colormaps["viridis"](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)
# disagreement colours (Fig. 5 discussion: where does LD fix or break GA?)
GALD_RIGHT = (46, 204, 64)  # green: GALD right, GA wrong
GA_RIGHT = (255, 65, 54)  # red: GA right, GALD wrong
BOTH_WRONG = (255, 220, 0)  # yellow: they differ and both are wrong
DIFFER = (240, 18, 190)  # magenta: they differ (no ground truth)


def palette_lut(palette: np.ndarray | list) -> np.ndarray:
    """(256, 3) lookup table: class id -> colour; ids without a colour (void, 255) -> black."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    pal = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)[:255]
    lut[: len(pal)] = pal
    return lut


def colorize(labels: np.ndarray, palette: np.ndarray | list) -> np.ndarray:
    """(H, W) class ids -> (H, W, 3) uint8 in palette colours."""
    return palette_lut(palette)[labels]


def blend(image: np.ndarray, colour: np.ndarray, alpha: float, where: np.ndarray | None = None) -> np.ndarray:
    """alpha * colour + (1 - alpha) * image, optionally only where `where` is True."""
    alpha = float(np.clip(alpha, 0.0, 1.0))
    out = image.astype(np.float32) * (1.0 - alpha) + colour.astype(np.float32) * alpha
    out = out.round().astype(np.uint8)
    if where is not None:
        out = np.where(where[..., None], out, image)
    return out


def label_overlay(image: np.ndarray, labels: np.ndarray, palette, alpha: float) -> np.ndarray:
    """Prediction or ground truth over the image; ignored pixels keep the image."""
    return blend(image, colorize(labels, palette), alpha, where=labels != IGNORE_INDEX)


def resize_map(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a float map to (width, height)."""
    if values.shape[::-1] == tuple(size):
        return values.astype(np.float32)
    img = Image.fromarray(values.astype(np.float32), mode="F")
    return np.asarray(img.resize(size, Image.Resampling.BILINEAR))


def apply_colormap(values: np.ndarray, vmin: float = 0.0, vmax: float = 1.0) -> np.ndarray:
    """Float map -> viridis RGB (uint8)."""
    span = max(vmax - vmin, 1e-12)
    idx = np.clip((values - vmin) / span * 255.0, 0, 255).astype(np.uint8)
    return VIRIDIS[idx]


def heatmap_overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.6, vmin: float = 0.0,
                    vmax: float = 1.0) -> np.ndarray:
    """A (h, w) map upsampled onto the image and blended in viridis."""
    h, w = image.shape[:2]
    colour = apply_colormap(resize_map(heat, (w, h)), vmin, vmax)
    return blend(image, colour, alpha)


def heat_tile(heat: np.ndarray, width: int = 160, vmin: float = 0.0, vmax: float = 1.0) -> np.ndarray:
    """Small colour-mapped thumbnail of a (h, w) map (aspect ratio kept)."""
    h, w = heat.shape
    size = (width, max(1, round(width * h / w)))
    return apply_colormap(resize_map(heat, size), vmin, vmax)


def disagreement(image: np.ndarray, ga: np.ndarray, gald: np.ndarray,
                 label: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, float]]:
    """Where GA and GALD differ, coloured by which is right (with ground truth) or magenta (without).

    Agreeing pixels are shown as a dimmed grey image. Returns (picture, shares of all pixels).
    """
    grey = image.mean(2, keepdims=True).repeat(3, 2) * 0.45 + 40
    out = grey.astype(np.uint8)
    differ = ga != gald
    stats = {"differ": float(differ.mean())}
    if label is None:
        out[differ] = DIFFER
        return out, stats
    valid = label != IGNORE_INDEX
    ga_ok, gald_ok = (ga == label) & valid, (gald == label) & valid
    masks = {"gald_right": differ & gald_ok & ~ga_ok, "ga_right": differ & ga_ok & ~gald_ok,
             "both_wrong": differ & valid & ~ga_ok & ~gald_ok}
    for name, colour in (("gald_right", GALD_RIGHT), ("ga_right", GA_RIGHT), ("both_wrong", BOTH_WRONG)):
        out[masks[name]] = colour
        stats[name] = float(masks[name].mean())
    out[differ & ~valid] = DIFFER
    return out, stats


def change_map(image: np.ndarray, before: np.ndarray, after: np.ndarray, palette, alpha: float = 0.8
               ) -> np.ndarray:
    """`after` coloured where it differs from `before`, the dimmed image elsewhere."""
    dim = (image.astype(np.float32) * 0.5).astype(np.uint8)
    return blend(dim, colorize(after, palette), alpha, where=before != after)


# --------------------------------------------------------------------------- segments
# --------------------------------------------------------------------------- legends
def legend_html(class_names: list[str], palette, shares: np.ndarray | None = None) -> str:
    """Class swatches in palette colours (optionally with the share of pixels per class)."""
    items = []
    for i, name in enumerate(class_names):
        r, g, b = (int(v) for v in np.asarray(palette[i]).tolist())
        share = "" if shares is None else f" <span class='gald-share'>{100 * float(shares[i]):.1f}%</span>"
        items.append(f"<span class='gald-chip'><span class='gald-swatch' style='background:rgb({r},{g},{b})'>"
                     f"</span>{html.escape(name)}{share}</span>")
    return "<div class='gald-legend'>" + "".join(items) + "</div>"


def colorbar_html(label: str, lo: str = "0", hi: str = "1") -> str:
    stops = ", ".join(f"rgb({r},{g},{b})" for r, g, b in VIRIDIS[::32].tolist() + [VIRIDIS[-1].tolist()])
    return (f"<div class='gald-colorbar'><span>{html.escape(label)}</span><span>{html.escape(lo)}</span>"
            f"<span class='gald-bar' style='background:linear-gradient(to right, {stops})'></span>"
            f"<span>{html.escape(hi)}</span></div>")


def disagreement_legend_html(with_label: bool) -> str:
    def chip(colour, text):
        return (f"<span class='gald-chip'><span class='gald-swatch' style='background:rgb{colour}'></span>"
                f"{html.escape(text)}</span>")

    if not with_label:
        return "<div class='gald-legend'>" + chip(DIFFER, "GA and GALD differ") + "</div>"
    return ("<div class='gald-legend'>" + chip(GALD_RIGHT, "GALD right, GA wrong")
            + chip(GA_RIGHT, "GA right, GALD wrong") + chip(BOTH_WRONG, "both wrong")
            + chip(DIFFER, "differ on void") + "</div>")
