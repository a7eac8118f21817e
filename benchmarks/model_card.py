"""Print the model card's tables (markdown) from a checkpoint's evaluation JSON and metadata.

    .venv/bin/python -m benchmarks.model_card [--checkpoint checkpoints/galdnet_r18_camvid]

Reads `CKPT.eval.json` (written by `python -m gald.evaluate ... --json CKPT.eval.json`) and `CKPT.json`
(its `learning_curve`, written by `python -m gald.export --log`). Prints per-class val IoU for the GALD
head and the GA / FCN probes, mIoU / small / large / pixel accuracy, boundary-band IoU, and the val
mIoU at every validation of the training run. Nothing here is typed by hand: rerun it after retraining.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HEADS = ("gald", "ga", "fcn")
TITLES = {"gald": "GALD (main head)", "ga": "GA probe", "fcn": "FCN probe"}


def _pct(v: Any) -> str:
    return f"{100 * v:.1f}" if isinstance(v, (int, float)) else "n/a"


def per_class_table(ev: dict[str, Any]) -> str:
    heads = [h for h in HEADS if h in ev["heads"]]
    classes = list(ev["heads"][heads[0]]["per_class_iou"])
    share = ev.get("class_pixel_share") or {}
    lines = ["| class | pixel share | " + " | ".join(TITLES[h] for h in heads) + " |",
             "|---|---|" + "---|" * len(heads)]
    for c in classes:
        cells = [_pct(ev["heads"][h]["per_class_iou"].get(c)) for h in heads]
        pixels = f"{_pct(share[c])}%" if isinstance(share.get(c), (int, float)) else "n/a"
        lines.append(f"| {c} | {pixels} | " + " | ".join(cells) + " |")
    for key, label in (("miou", "**mIoU**"), ("small_miou", "small classes"), ("large_miou", "large classes"),
                       ("pixel_accuracy", "pixel accuracy")):
        lines.append(f"| {label} | | " + " | ".join(_pct(ev["heads"][h].get(key)) for h in heads) + " |")
    return "\n".join(lines)


def boundary_table(ev: dict[str, Any]) -> str:
    bands = ev.get("boundary_iou") or {}
    heads = [h for h in HEADS if h in bands]
    if not heads:
        return ""
    widths = sorted(bands[heads[0]], key=float)
    lines = ["| band width (px) | " + " | ".join(TITLES[h] for h in heads) + " |", "|---|" + "---|" * len(heads)]
    for w in widths:
        lines.append(f"| {w} | " + " | ".join(_pct(bands[h].get(w)) for h in heads) + " |")
    return "\n".join(lines)


def curve_table(meta: dict[str, Any]) -> str:
    val = (meta.get("learning_curve") or {}).get("val") or []
    if not val:
        return ""
    lines = ["| step | GALD val mIoU | GA probe | FCN probe | boundary IoU @5px |", "|---|---|---|---|---|"]
    for r in val:
        lines.append(f"| {r['step']} | {_pct(r.get('gald_miou'))} | {_pct(r.get('ga_miou'))} | "
                     f"{_pct(r.get('fcn_miou'))} | {_pct(r.get('boundary_iou_5'))} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="checkpoints/galdnet_r18_camvid", type=Path)
    args = ap.parse_args()
    ck = args.checkpoint.with_suffix("") if args.checkpoint.suffix in (".json", ".safetensors") else args.checkpoint
    ev = json.loads(ck.with_name(ck.name + ".eval.json").read_text())
    meta = json.loads(ck.with_name(ck.name + ".json").read_text())
    print(f"Evaluation: {ev.get('num_images')} {ev.get('split')} images, single scale, no flip.\n")
    print(per_class_table(ev), end="\n\n")
    print(boundary_table(ev), end="\n\n")
    print(curve_table(meta))


if __name__ == "__main__":
    main()
