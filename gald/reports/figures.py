"""The paper's Figures 4 and 5 for your own images, as PNG and vector PDF (matplotlib).

    python -m gald.figures --checkpoint checkpoints/galdnet_lite2_camvid IMAGE [IMAGE ...] --out figures/

Figure 5: image | FCN | GA | GALD | ground truth (when `<stem>_label.png` lies beside the image, or with
`--label IMAGE=LABEL`), with zoomed insets on the window where the GA and GALD heads disagree most (small
objects, boundaries). Figure 4: image | mean LD mask | chosen mask channels (the most and the least active),
one shared colour bar on [0, 1]. Both carry the class legend and a caption line naming the checkpoint.
The rendering functions are pure functions of arrays, used by the app's downloads too.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

FIG5_SIZE = (12.0, 2.9)  # inches: a two-column paper figure; the PDF page is 864 x 209 pt
FIG4_SIZE = (12.0, 2.7)


def _mpl():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers, CI or Spaces
    import matplotlib.pyplot as plt

    return plt


def colourise(ids: np.ndarray, palette: Sequence[Sequence[int]], void: tuple[int, int, int] = (0, 0, 0)
              ) -> np.ndarray:
    lut = np.zeros((256, 3), np.uint8)
    lut[:] = void
    lut[: len(palette)] = np.asarray(palette, np.uint8).reshape(-1, 3)
    return lut[ids]


def disagreement_window(a: np.ndarray, b: np.ndarray, size: int) -> tuple[int, int, int] | None:
    """(top, left, size) of the square window with the most pixels where the two label maps differ."""
    diff = (a != b).astype(np.float64)
    if not diff.any():
        return None
    size = max(8, min(size, *diff.shape))
    integral = np.pad(diff.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    counts = (integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size] + integral[:-size, :-size])
    top, left = np.unravel_index(int(counts.argmax()), counts.shape)
    return int(top), int(left), size


def _legend(fig, class_names: Sequence[str], palette: Sequence[Sequence[int]], present: set[int]) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=np.asarray(palette[c]) / 255, edgecolor="0.3", label=class_names[c])
               for c in range(len(class_names)) if c in present]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 11), fontsize=7, frameon=False,
                   bbox_to_anchor=(0.5, 0.045))


def figure5(image: np.ndarray, preds: dict[str, np.ndarray], class_names: Sequence[str],
            palette: Sequence[Sequence[int]], caption: str, gt: np.ndarray | None = None, inset: int = 72):
    """Image | FCN | GA | GALD | GT with a zoomed inset where GA and GALD disagree most."""
    plt = _mpl()
    panels: list[tuple[str, np.ndarray]] = [("Image", image)]
    for head, title in (("fcn", "FCN"), ("ga", "GA"), ("gald", "GALD")):
        if head in preds:
            panels.append((title, colourise(preds[head], palette)))
    if gt is not None:
        panels.append(("Ground truth", colourise(gt, palette)))
    fig, axes = plt.subplots(1, len(panels), figsize=FIG5_SIZE)
    axes = np.atleast_1d(axes)
    window = disagreement_window(preds["ga"], preds["gald"], inset) if "ga" in preds and "gald" in preds else None
    for ax, (title, pic) in zip(axes, panels, strict=True):
        ax.imshow(pic, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        if window is not None:
            top, left, size = window
            ax.add_patch(plt.Rectangle((left, top), size, size, fill=False, edgecolor="white", linewidth=1.2))
            # the inset goes to the corner opposite the window, so it never hides what it magnifies
            ih, iw = pic.shape[:2]
            x0 = 0.58 if left + size / 2 < iw / 2 else 0.0
            y0 = 0.58 if top + size / 2 > ih / 2 else 0.0  # axes y runs upwards, image rows downwards
            zoom = ax.inset_axes([x0, y0, 0.42, 0.42])
            zoom.imshow(pic[top:top + size, left:left + size], interpolation="nearest")
            zoom.set_xticks([])
            zoom.set_yticks([])
            for spine in zoom.spines.values():
                spine.set_edgecolor("white")
                spine.set_linewidth(1.2)
    present = {int(c) for p in preds.values() for c in np.unique(p)} | (
        {int(c) for c in np.unique(gt) if c < len(class_names)} if gt is not None else set())
    _legend(fig, class_names, palette, present)
    fig.text(0.5, 0.01, caption, ha="center", fontsize=7, color="0.25")
    fig.subplots_adjust(left=0.01, right=0.99, top=0.92, bottom=0.17, wspace=0.03)
    return fig


def chosen_channels(mask: np.ndarray, k: int) -> list[int]:
    """The k/2 most and k - k/2 least active channels of M (by spatial mean)."""
    means = mask.mean((1, 2))
    order = np.argsort(-means)
    top = order[: (k + 1) // 2].tolist()
    bottom = [c for c in order[::-1][: k // 2].tolist() if c not in top]
    return top + bottom


def figure4(image: np.ndarray, mask: np.ndarray, caption: str, channels: Sequence[int] | None = None, k: int = 4):
    """Image | mean of M | chosen channels of M, one colour bar on [0, 1] (viridis)."""
    plt = _mpl()
    channels = list(channels) if channels is not None else chosen_channels(mask, k)
    h, w = image.shape[:2]
    maps = [("Mean of M", mask.mean(0))] + [(f"Channel {c}", mask[c]) for c in channels]
    fig, axes = plt.subplots(1, 1 + len(maps), figsize=FIG4_SIZE)
    axes[0].imshow(image)
    axes[0].set_title("Image", fontsize=10)
    im = None
    for ax, (title, m) in zip(axes[1:], maps, strict=True):
        im = ax.imshow(m, cmap="viridis", vmin=0.0, vmax=1.0, extent=(0, w, h, 0), interpolation="bilinear")
        ax.set_title(title, fontsize=10)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.subplots_adjust(left=0.01, right=0.92, top=0.9, bottom=0.1, wspace=0.04)
    cax = fig.add_axes([0.935, 0.2, 0.012, 0.6])
    fig.colorbar(im, cax=cax, label="M")
    fig.text(0.5, 0.02, caption, ha="center", fontsize=7, color="0.25")
    return fig


def save(fig, stem: Path, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    paths = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        fig.savefig(path, dpi=200 if fmt == "png" else None)
        paths.append(path)
    _mpl().close(fig)
    return paths


def caption_for(checkpoint: str, meta: dict[str, Any], image_name: str) -> str:
    cfg = meta.get("config") or {}
    miou = ((meta.get("metrics") or {}).get("val") or {}).get("gald", {}).get("miou")
    score = f", val mIoU {100 * miou:.1f}" if isinstance(miou, (int, float)) else ""
    return (f"GALDNet {Path(checkpoint).name} ({cfg.get('backbone')} OS{cfg.get('output_stride')}, GA "
            f"{cfg.get('ga')}{score}) on {image_name}")


def main(argv: list[str] | None = None) -> int:
    import torch

    from .. import load_checkpoint, stage_outputs
    from ..data import DatasetError, load_image, load_label
    from ..evaluation.metrics import class_map
    from ..predict import Segmenter

    p = argparse.ArgumentParser(prog="python -m gald.figures", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="checkpoints/galdnet_lite2_camvid")
    p.add_argument("images", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--label", action="append", default=[], metavar="IMAGE=LABEL",
                   help="ground truth for an image (default: <stem>_label.png beside it, if any)")
    p.add_argument("--channels", type=int, default=4, help="mask channels in Figure 4 (default 4)")
    p.add_argument("--formats", default="png,pdf")
    args = p.parse_args(argv)
    labels = dict(item.split("=", 1) for item in args.label)
    model, meta = load_checkpoint(args.checkpoint)
    seg = Segmenter(model, meta, torch.device("cpu"))
    names, palette = meta["class_names"], meta["palette"]
    args.out.mkdir(parents=True, exist_ok=True)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    for path in args.images:
        try:
            rgb = load_image(path, str(path))
        except DatasetError as exc:
            print(f"skipped {path}: {exc}", file=sys.stderr)
            continue
        h, w = rgb.shape[:2]
        lab_path = Path(labels.get(str(path), path.with_name(path.stem + "_label.png")))
        gt = load_label(lab_path, str(lab_path)) if lab_path.is_file() else None
        if gt is not None and gt.shape != (h, w):
            print(f"ignored label {lab_path}: {gt.shape[1]}x{gt.shape[0]} but the image is {w}x{h}", file=sys.stderr)
            gt = None
        x = seg.tensor(rgb)
        stages = stage_outputs(model, x)
        preds = {}
        for head, key in (("fcn", "logits_fcn"), ("ga", "logits_ga"), ("gald", "logits_gald")):
            if key in stages:
                up = torch.nn.functional.interpolate(stages[key], size=(h, w), mode="bilinear", align_corners=False)
                preds[head] = class_map(up)[0].to(torch.uint8).numpy()
        caption = caption_for(args.checkpoint, meta, path.name)
        written = save(figure5(rgb, preds, names, palette, caption, gt), args.out / f"{path.stem}_fig5", formats)
        if "M" in stages:
            fig4 = figure4(rgb, stages["M"][0].numpy(), caption, k=args.channels)
            written += save(fig4, args.out / f"{path.stem}_fig4", formats)
        print("wrote " + ", ".join(str(w_) for w_ in written))
    return 0

