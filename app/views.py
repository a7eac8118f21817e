"""Everything shown for one analysed image, composed from the cached `Analysis` (no network, no gradio).

Stages (Fig. 5: input | FCN | GA | GALD | ground truth), the GA-vs-GALD disagreement, LD on vs off,
the LD mask (Fig. 4: mean over channels, single channels, top/bottom channels, mask vs segment size)
and per-image metrics. `full_analysis` is what the UI's `analyze` endpoint and the benchmark call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

import gald
from gald.data.constants import IGNORE_INDEX
from gald.evaluation.segments import decompose_errors
from gald.heads import TITLES

from . import budget, figures, plots
from .inference import Analysis, Predictor

DISPLAY_MAX_SIDE = 640  # pictures larger than this are shown downscaled (cheaper PNGs)
TOP_K = 6


@dataclass
class Display:
    image: np.ndarray
    preds: dict[str, np.ndarray]
    label: np.ndarray | None


def display(analysis: Analysis, label: np.ndarray | None) -> Display:
    """Image, predictions and label at display resolution (memoised on the analysis)."""
    h, w = analysis.image.shape[:2]
    step = max(1, int(np.ceil(max(h, w) / DISPLAY_MAX_SIDE)))
    memo = analysis.memo.get("display")
    if memo is None:
        image = analysis.image
        if step > 1:
            image = np.asarray(Image.fromarray(image).resize((w // step, h // step), Image.Resampling.BOX))
        preds = {k: v[::step, ::step][: image.shape[0], : image.shape[1]] for k, v in analysis.preds.items()}
        memo = analysis.memo["display"] = (image, preds)
    image, preds = memo
    if label is not None:
        label = label[::step, ::step][: image.shape[0], : image.shape[1]]
    return Display(image, preds, label)


def stage_images(pred: Predictor, analysis: Analysis, label: np.ndarray | None, alpha: float,
                 names: tuple[str, ...] | None = None) -> dict[str, np.ndarray | None]:
    """Overlays for the stage row and the LD on/off pair (the `overlay` endpoint); `names`: only these of
    input, fcn, ga, gald, gt, ld_on, ld_off (default: all)."""
    d = display(analysis, label)
    off = d.preds.get("gald_ld_off")

    def overlay(labels: np.ndarray | None) -> np.ndarray | None:
        return None if labels is None else figures.label_overlay(d.image, labels, pred.palette, alpha)

    make = {"input": lambda: d.image, "gt": lambda: overlay(d.label),
            **{head: (lambda head=head: overlay(d.preds.get(head))) for head in ("fcn", "ga", "gald")},
            "ld_on": lambda: None if off is None else overlay(d.preds.get("gald")),
            "ld_off": lambda: overlay(off)}
    out: dict[str, np.ndarray | None] = {}
    for name in names or tuple(make):
        if name == "ld_on" and "gald" in out:
            out[name] = None if off is None else out["gald"]  # the same picture: one overlay, one file
        else:
            out[name] = make[name]()
    return out


def disagreement_view(analysis: Analysis, label: np.ndarray | None) -> tuple[np.ndarray | None, str]:
    d = display(analysis, label)
    if "ga" not in d.preds or "gald" not in d.preds:
        return None, "This model has no GA head, so there is nothing to compare."
    pic, s = figures.disagreement(d.image, d.preds["ga"], d.preds["gald"], d.label)
    text = f"GA and GALD predict different classes on **{100 * s['differ']:.2f}%** of the pixels."
    if d.label is not None:
        text += (f" Of all pixels, GALD is right where GA is wrong on **{100 * s['gald_right']:.2f}%**, GA is "
                 f"right where GALD is wrong on **{100 * s['ga_right']:.2f}%**, both are wrong on "
                 f"**{100 * s['both_wrong']:.2f}%**.")
    else:
        text += " Add a ground-truth label to see which head is right."
    return pic, text


def ld_view(pred: Predictor, analysis: Analysis) -> tuple[np.ndarray | None, str]:
    """Main-head pixels whose class changes when LD is switched off (F_GALD := F_GA, Eq. 2 with M = 0)."""
    d = display(analysis, None)
    on, off = d.preds.get("gald"), d.preds.get("gald_ld_off")
    if on is None or off is None:
        return None, "This model has no LD module (arrangement without GA-then-LD)."
    pic = figures.change_map(d.image, on, off, pred.palette)
    full_on, full_off = analysis.preds["gald"], analysis.preds["gald_ld_off"]
    changed = full_on != full_off
    text = f"Switching LD off changes the main head on **{100 * changed.mean():.2f}%** of the pixels"
    if changed.any():
        k = pred.num_classes
        gained = np.bincount(full_off[changed], minlength=k)[:k]
        lost = np.bincount(full_on[changed], minlength=k)[:k]
        top = [f"{pred.class_names[c]} ({100 * lost[c] / changed.size:.2f}% → other)" for c in
               np.argsort(-lost)[:3] if lost[c]]
        grew = [f"{pred.class_names[c]}" for c in np.argsort(-gained)[:3] if gained[c]]
        text += f"; LD-on classes that change most: {', '.join(top)}; without LD they become mostly {', '.join(grew)}"
    return pic, text + ". Shown: the LD-off prediction where it differs from LD on."


def stretch(values: np.ndarray) -> tuple[float, float]:
    """Colour range of a heatmap: its 1st-99th percentile (M often lives in a narrow band)."""
    lo, hi = (float(v) for v in np.percentile(values, (1, 99)))
    return (lo, hi) if hi - lo > 1e-6 else (lo - 0.5e-3, lo + 0.5e-3)


def span(lo: float, hi: float) -> str:
    digits = 3 if hi - lo >= 0.01 else 5
    return f"{lo:.{digits}f} – {hi:.{digits}f}"


def channel_view(analysis: Analysis, channel: int, alpha: float = 0.65) -> tuple[np.ndarray | None, str]:
    """One channel of the LD mask M over the image (the `channel` endpoint)."""
    if analysis.mask is None:
        return None, "This model has no LD mask."
    c = int(np.clip(int(channel), 0, analysis.mask.shape[0] - 1))
    d = display(analysis, None)
    m = analysis.mask[c]
    means = analysis.channel_means
    rank = int((means > means[c]).sum()) + 1
    lo, hi = stretch(m)
    pic = figures.heatmap_overlay(d.image, m, alpha, lo, hi)
    text = (f"Channel **{c}** of {analysis.mask.shape[0]}: mean M = **{means[c]:.3f}** (rank {rank} by mean), "
            f"min {m.min():.3f}, max {m.max():.3f}; colours span {span(lo, hi)}.")
    return pic, text


def gallery_channels(analysis: Analysis) -> list[int]:
    """The top-k then bottom-k channels by mean M (the order of the Masks gallery)."""
    order = np.argsort(-analysis.channel_means, kind="stable")
    return [int(c) for c in order[:TOP_K]] + [int(c) for c in order[::-1][:TOP_K]]


def mask_views(pred: Predictor, analysis: Analysis, alpha: float = 0.65) -> dict[str, Any]:
    """Mean LD mask heatmap, top/bottom channels, mask-vs-segment-size scatter and a summary line."""
    if analysis.mask is None:
        return {"mean": None, "gallery": [], "scatter": None, "text": "This model has no LD mask."}
    d = display(analysis, None)
    mean = analysis.mask_mean
    means = analysis.channel_means
    # tiles on the absolute 0..1 scale, so top and bottom channels compare
    gallery = [(figures.heat_tile(analysis.mask[c]), f"{'↑' if i < TOP_K else '↓'} ch {c} · {means[c]:.2f}")
               for i, c in enumerate(gallery_channels(analysis))]
    stats = figures.segment_mask_stats(analysis.preds["gald"], mean)
    scatter = plots.segment_scatter(stats, pred.class_names, pred.palette)
    corr = np.nan
    if len(stats["area"]) > 2 and np.ptp(stats["mean_m"]) > 0:
        corr = float(np.corrcoef(np.log10(np.maximum(stats["area"], 1)), stats["mean_m"])[0, 1])
    lo, hi = stretch(mean)
    text = (f"Mean of M over all channels and pixels: **{mean.mean():.3f}**, colours span {span(lo, hi)} "
            f"(channel means "
            f"{means.min():.3f} – {means.max():.3f}). {len(stats['area'])} predicted segments; correlation "
            f"of mean M with log segment area: **{corr:+.2f}** (the paper expects M to be high inside large "
            f"patterns and low on small ones: a positive value).")
    return {"mean": figures.heatmap_overlay(d.image, mean, alpha, lo, hi), "gallery": gallery, "scatter": scatter,
            "text": text}


def image_metrics(pred: Predictor, analysis: Analysis, label: np.ndarray | None) -> dict[str, Any]:
    """Per-class IoU of each head on this image and the GALD confusion matrix (needs ground truth)."""
    if label is None:
        return {"headers": ["class"], "rows": [], "confusion": None}
    k = pred.num_classes
    valid = label < k
    target = label[valid].astype(np.int64) * k
    results, mats = {}, {}
    for head in [*analysis.heads, *(["gald_ld_off"] if "gald_ld_off" in analysis.preds else [])]:
        cm = gald.ConfusionMatrix(k)  # filled with numpy's bincount (5x faster than torch indexing here)
        counts = np.bincount(target + analysis.preds[head][valid], minlength=k * k)[: k * k]
        cm.mat = torch.from_numpy(counts.reshape(k, k).astype(np.int64))
        results[head], mats[head] = cm.compute(), cm.mat.numpy()
    valid = label[label != IGNORE_INDEX]
    shares = np.bincount(valid, minlength=pred.num_classes)[: pred.num_classes] / max(valid.size, 1)
    # every other pixel (band 5 px -> 2): ~4x cheaper, so an analysis stays under its time budget; the split-level
    # figures (gald.evaluate) are at full resolution
    errors = {h: decompose_errors(analysis.preds[h][::2, ::2], label[::2, ::2], k, band=2) for h in analysis.heads}
    headers, rows = plots.image_iou_table(results, pred.class_names, shares, errors)
    main = "gald" if "gald" in mats else analysis.heads[-1]
    return {"headers": headers, "rows": rows, "confusion": plots.confusion_figure(mats[main], pred.class_names),
            "results": results, "errors": errors}


def legend(pred: Predictor, analysis: Analysis, label: np.ndarray | None) -> str:
    """The class legend with each class's share of the main head's prediction on this image."""
    d = display(analysis, label)
    shares = np.bincount(d.preds["gald" if "gald" in d.preds else analysis.heads[-1]].ravel(),
                         minlength=pred.num_classes)[: pred.num_classes] / d.image[..., 0].size
    return figures.legend_html(pred.class_names, pred.palette, shares)


def summary(pred: Predictor, analysis: Analysis, notices: list[str], has_label: bool) -> str:
    h, w = analysis.image.shape[:2]
    nh, nw = analysis.net_size
    lines = [f"Analysed **{w}×{h}** at input scale {analysis.scale:g} (network input {nw}×{nh}) in "
             f"{analysis.seconds:.2f} s."
             + ("" if has_label else " No ground truth: upload a label to score the heads.")]
    lines += [f"⚠️ {n}" for n in notices]
    return "\n\n".join(lines)


def full_analysis(pred: Predictor, rgb: np.ndarray, label: np.ndarray | None = None, *, alpha: float = 0.6,
                  channel: int = 0, notices: list[str] | None = None, scale: float | None = None) -> dict[str, Any]:
    """Network (cached) + every picture and plot of the Stages, Masks and Dashboard tabs; `scale`: input scale
    (default: the checkpoint's)."""
    analysis = pred.analyze(rgb, scale)
    out: dict[str, Any] = {"analysis": analysis, "stages": stage_images(pred, analysis, label, alpha)}
    out["disagreement"] = disagreement_view(analysis, label)
    out["ld"] = ld_view(pred, analysis)
    out["masks"] = mask_views(pred, analysis)
    out["channel"] = channel_view(analysis, channel)
    out["metrics"] = image_metrics(pred, analysis, label)
    out["legend"] = legend(pred, analysis, label)
    out["summary"] = summary(pred, analysis, notices or [], label is not None)
    out["files"] = pred.export(analysis)
    return out


def titles() -> dict[str, str]:
    return {"input": "Input", **{h: f"{t} head" for h, t in TITLES.items()}, "gt": "Ground truth"}


def ga_reach_note(pred: Predictor) -> str:
    """What the checkpoint's GA module really aggregates (its `ga_reach` measurement, gald/reports/ga_reach.py),
    shown where users compare the GA and GALD stages."""
    cfg = pred.model.config
    if not cfg.uses_ga:
        return "This model has no GA module."
    lines = []
    reach_path = pred.measurement_path("ga_reach")
    reach = None
    if reach_path is not None:
        try:
            reach = json.loads(reach_path.read_text()) if reach_path.is_file() else None
        except (OSError, ValueError):
            reach = None  # a broken measurement file only loses this line
        reach = reach if isinstance(reach, dict) else None
    if reach and isinstance(reach.get("relative_change_left_quarter"), dict):
        r = reach["relative_change_left_quarter"]
        if "F_GA" in r and "F" in r:
            lines.append(f"**What this GA aggregates** (measured on {reach.get('images')} {reach.get('split')} "
                         f"images): replacing the right half of an image changes F_GA in the left quarter by "
                         f"{100 * r['F_GA']['median']:.2f}% (median), the backbone feature F by "
                         f"{100 * r['F']['median']:.2f}%.")
    if cfg.ga == "cgnl":
        lines.append("CGNL's global statistic (one scalar per channel group) is divided out again by its "
                     "GroupNorm except for its sign, so its 'global context' is one sign per group; "
                     "the Non-Local GA keeps a per-pixel attention map.")
    return " ".join(lines)


def paper_figure(pred: Predictor, analysis: Analysis, label: np.ndarray | None, which: str, fmt: str,
                 folder: Path) -> Path:
    """Figure 5 (stages) or Figure 4 (LD mask) of this analysis as a PDF or PNG file (gald.figures)."""
    from gald.reports import figures as paper

    if which not in ("fig4", "fig5"):
        raise ValueError(f"unknown figure {which!r}; valid: ['fig4', 'fig5']")
    if fmt not in ("pdf", "png"):
        raise ValueError(f"unknown format {fmt!r}; valid: ['pdf', 'png']")
    caption = paper.caption_for(pred.checkpoint_path or "checkpoint", pred.meta, "an uploaded image")
    if which == "fig5":
        preds = {h: analysis.preds[h] for h in ("fcn", "ga", "gald") if h in analysis.preds}
        fig = paper.figure5(analysis.image, preds, pred.class_names, pred.palette, caption, gt=label)
    else:
        if analysis.mask is None:
            raise ValueError("this model has no LD mask, so there is no Figure 4")
        fig = paper.figure4(analysis.image, analysis.mask, caption)
    stem = folder / f"{which}_{analysis.key[:12]}"
    return paper.save(fig, stem, (fmt,))[0]


def pixel_view(pred: Predictor, analysis: Analysis, label: np.ndarray | None, x: float, y: float
               ) -> tuple[str, Any, np.ndarray | None, str]:
    """(text, probability bars, Non-Local attention overlay or None, attention caption) for one pixel, from
    the cached pass: no network run."""
    from . import pixel

    loc = pixel.locate(analysis, x, y)
    probs = pixel.head_probabilities(analysis, loc)
    text = pixel.describe(pred, analysis, loc, probs, pixel.mask_at(analysis, loc), label)
    attention = pixel.nonlocal_attention(pred, analysis, loc)
    d = display(analysis, None)
    sx, sy = d.image.shape[1] / analysis.image.shape[1], d.image.shape[0] / analysis.image.shape[0]
    if attention is None:
        note = (f"The GA of this model is {pred.model.config.ga.upper()}, which has no per-pixel attention map "
                "(only the Non-Local GA has one).")
        pic = None
    else:
        pic = pixel.mark_pixel(figures.heatmap_overlay(d.image, attention, 0.6), int(loc.x * sx), int(loc.y * sy))
        note = "Non-Local attention of this pixel over the (sub-sampled) image, scaled to its maximum."
    return text, plots.pixel_probabilities(probs, pred.class_names), pic, note


def pixel_attribution_view(pred: Predictor, analysis: Analysis, label: np.ndarray | None, x: float, y: float,
                           head: str) -> tuple[np.ndarray, np.ndarray | None, str]:
    """GradCAM for the predicted class of `head` on the 3x3 feature cells around the pixel, and for the
    ground-truth class when a label is loaded."""
    from . import pixel

    loc = pixel.locate(analysis, x, y)
    if head not in analysis.heads:
        raise ValueError(f"unknown head {head!r}; valid: {analysis.heads}")
    probs = pixel.head_probabilities(analysis, loc)
    region = pixel.region_around(analysis, loc)
    d = display(analysis, None)
    sx, sy = d.image.shape[1] / analysis.image.shape[1], d.image.shape[0] / analysis.image.shape[0]
    mark = (int(loc.x * sx), int(loc.y * sy))
    c_pred = int(probs[head].argmax())
    heat = pred.attribute(analysis, head, c_pred, "gradcam", region=region)
    pred_pic = pixel.mark_pixel(figures.heatmap_overlay(d.image, heat, 0.6), *mark)
    names = pred.class_names
    text = (f"GradCAM on backbone.layer4 for the {TITLES[head]} head's mean logit over the feature cells "
            f"{region[:2]}-{(region[2] - 1, region[3] - 1)} around the pixel: predicted class **{names[c_pred]}**")
    gt_pic = None
    if label is not None and int(label[loc.y, loc.x]) < len(names):
        c_gt = int(label[loc.y, loc.x])
        gt_heat = pred.attribute(analysis, head, c_gt, "gradcam", region=region)
        gt_pic = pixel.mark_pixel(figures.heatmap_overlay(d.image, gt_heat, 0.6), *mark)
        text += f"; ground-truth class **{names[c_gt]}** (right)" + (" (the same)" if c_gt == c_pred else "")
    note = budget.attribution_note(*analysis.image.shape[:2], analysis.scale, "gradcam")
    return pred_pic, gt_pic, text + "." + (f" {note}" if note else "")
