"""Print the CamVid ablation table (Table 1 rows) from the committed evaluation JSONs.

    python -m gald.reports.ablation_table [--dir checkpoints/ablations] [--write]

Each row's JSON is written by `python -m gald.evaluate ... --json checkpoints/ablations/<row>.json` after
`bash benchmarks/run_ablations.sh <row>` (configs/camvid_ablation.yaml + the row registry). The last column is
the paper's Cityscapes val result for the same row (ResNet-50, Table 1), as mIoU and difference to its FCN baseline.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from ..ablation.rows import PAPER_BASELINE, ROW_ORDER, ROWS, row_key, row_title
from . import doc_blocks


def _pct(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def load_rows(directory: Path) -> list[dict]:
    rows = []
    order = {key: i for i, key in enumerate(ROW_ORDER)}
    stems = sorted((p.stem for p in directory.glob("*.json") if row_key(p.stem)[0] in ROWS),
                   key=lambda s: (order[row_key(s)[0]], row_key(s)[1] or 0))
    for stem in stems:
        path = directory / f"{stem}.json"
        paper = ROWS[row_key(stem)[0]].paper
        if paper is None:
            continue
        label = row_title(stem) + (" (run-to-run noise)" if row_key(stem)[1] is not None else "")
        result = json.loads(path.read_text())
        head = result["heads"]["gald"]
        rows.append({"row": stem, "label": label, "miou": head["miou"], "small": head.get("small_miou"),
                     "large": head.get("large_miou"), "biou5": result["boundary_iou"]["gald"].get("5"),
                     "paper": paper, "paper_delta": paper - PAPER_BASELINE,
                     "iters": result.get("training", {}).get("optim", {}).get("iters")})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| row | CamVid val mIoU | small-class IoU | large-class IoU | boundary IoU @5px | "
             "paper Cityscapes mIoU (Δ vs FCN) |", "|---|---|---|---|---|---|"]
    fcn = next((r["miou"] for r in rows if r["row"] == "fcn"), None)
    for r in rows:
        delta = "" if fcn is None or r["row"] == "fcn" else f" ({100 * (r['miou'] - fcn):+.1f})"
        lines.append(f"| {r['label']} | {_pct(r['miou'])}{delta} | {_pct(r['small'])} | {_pct(r['large'])} | "
                     f"{_pct(r['biou5'])} | {r['paper']:.1f} ({r['paper_delta']:+.1f}) |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="checkpoints/ablations", type=Path)
    doc_blocks.add_arguments(ap, "docs/ablations.md")
    args = ap.parse_args()
    rows = load_rows(args.dir)
    if not rows:
        raise SystemExit(f"no ablation JSONs in {args.dir}")
    doc_blocks.emit(markdown(rows), args, doc_blocks.ROOT / "docs" / "ablations.md", __spec__.name, "--dir", args.dir)


if __name__ == "__main__":
    main()
