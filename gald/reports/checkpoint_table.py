"""The README's table of bundled checkpoints, from their metadata, evaluation JSON and weight files.

    python -m gald.reports.checkpoint_table checkpoints/galdnet_lite2_camvid ... [--write]

One row per checkpoint: backbone and its initialisation, output stride, the input scale it runs at, the
mIoU of every head on the split its `CKPT.eval.json` was computed on, the size of its weight file, and a
link to its model card (`docs/model_cards/<name>.md`). `--write` puts the table into README.md's block.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..heads import HEADS
from ..io.checkpoint import checkpoint_paths, read_metadata
from . import doc_blocks

CARD_DIR = "docs/model_cards"  # relative to the repository root, as README links are


def _initialisation(meta: dict[str, Any]) -> str:
    """ImageNet or from scratch, following a continued run's parents back to the run that started it."""
    while meta.get("parent"):
        meta = meta["parent"]
    return "from scratch" if not meta.get("training", {}).get("pretrained_backbone") else "ImageNet"


def row(ck: Path) -> dict[str, Any]:
    weights, _ = checkpoint_paths(ck)
    meta = read_metadata(ck)
    ev = json.loads(weights.with_suffix(".eval.json").read_text())
    config = meta["config"]
    return {"name": ck.name, "backbone": config["backbone"], "init": _initialisation(meta),
            "output_stride": config["output_stride"], "scale": meta.get("inference", {}).get("scale", 1.0),
            "split": ev["split"], "images": ev["num_images"],
            "miou": {h.key: ev["heads"][h.key]["miou"] for h in HEADS if h.key in ev["heads"]},
            "mib": weights.stat().st_size / 2**20}


def markdown(rows: list[dict[str, Any]]) -> str:
    evaluated = {(r["split"], r["images"]) for r in rows}
    if len(evaluated) != 1:
        raise ValueError(f"the checkpoints were evaluated on different splits: {sorted(evaluated)}")
    split, images = evaluated.pop()
    heads = [h for h in reversed(HEADS) if any(h.key in r["miou"] for r in rows)]  # main head first
    lines = [f"| checkpoint | backbone | output stride | input scale | {split} mIoU ({images} images): "
             + " / ".join(h.card_title for h in heads) + " | size | card |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        miou = " / ".join(f"{100 * r['miou'][h.key]:.1f}" if h.key in r["miou"] else "n/a" for h in heads)
        lines.append(f"| `{r['name']}` | {r['backbone']} ({r['init']}) | {r['output_stride']} | {r['scale']:g} | "
                     f"{miou} | {r['mib']:.1f} MiB | [card]({CARD_DIR}/{r['name']}.md) |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+", type=Path)
    doc_blocks.add_arguments(ap, "README.md")
    args = ap.parse_args()
    cks = [c.with_suffix("") if c.suffix in (".json", ".safetensors") else c for c in args.checkpoints]
    doc_blocks.emit(markdown([row(c) for c in cks]), args, doc_blocks.ROOT / "README.md", __spec__.name, *cks)


if __name__ == "__main__":
    main()
