"""Table 1 under the head protocol: mean ± sd over seeds per row, and each row's delta to FCN paired by seed.

    .venv/bin/python -m gald.reports.head_protocol_table [--dir checkpoints/ablations/head] [--write]

Reads `<row>_seed<k>.json` written by `python -m gald.ablation.head_protocol`. For each row: mean ± sd over its seeds
of mIoU, small-class and large-class IoU and boundary IoU at 5 px; the delta of its mIoU to the FCN row with
the same seed, with a 95 % t-interval over the paired seeds (a sign count when fewer than 3 pairs). A
difference is called "interval excludes 0" only when it does.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..ablation.stats import METRICS, load, summarize
from . import doc_blocks


def _ms(m: float | None, s: float | None) -> str:
    if m is None:
        return "n/a"
    return f"{m:.1f}" + (f" ± {s:.1f}" if s is not None else " (1 seed)")


def _delta(d: dict[str, Any] | None) -> str:
    if d is None:
        return ""
    if "low" in d:
        mark = " *" if d["excludes_zero"] else ""
        return f"{d['mean']:+.1f} [{d['low']:+.1f}, {d['high']:+.1f}]{mark}"
    return f"{d['mean']:+.1f} ({d['positive']}/{d['n']} seeds > 0)"


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| row | seeds | mIoU | small-class IoU | large-class IoU | boundary IoU @5px | Δ mIoU vs FCN, "
             "paired [95 % CI] |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        st = r["stats"]
        lines.append(f"| {r['title']} | {len(r['seeds'])} | " + " | ".join(_ms(*st[k]) for k in METRICS)
                     + f" | {_delta(r['delta'])} |")
    gald = next((r for r in rows if r["row"] == "gald" and r.get("mask_vs_size")), None)
    if gald:  # the paper's Fig. 4 claim, measured on the GALD row's seeds
        f = gald["mask_vs_size"]
        m, sd = f["median_corr"]
        lines += ["", f"Fig. 4 (GALD row, {f['seeds']} seeds): correlation of a predicted segment's mean LD mask with "
                  f"log10 of its area, per val image, median over images: {m:+.2f}"
                  + (f" ± {sd:.2f} (sd over seeds)" if sd is not None else "")
                  + f"; positive in {100 * f['positive_share']:.0f}% of images (mean over seeds). The paper expects "
                  "a positive value (mask high inside large patterns)."]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="checkpoints/ablations/head", type=Path)
    doc_blocks.add_arguments(ap, "docs/ablations.md")
    args = ap.parse_args()
    rows = summarize(load(args.dir))
    if not rows:
        raise SystemExit(f"no head-protocol JSONs in {args.dir}")
    doc_blocks.emit(markdown(rows), args, doc_blocks.ROOT / "docs" / "ablations.md", __spec__.name, "--dir", args.dir)


if __name__ == "__main__":
    main()
