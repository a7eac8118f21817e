"""Table 1 under the head protocol: mean ± sd over seeds per row, and paired comparisons between rows.

    .venv/bin/python -m gald.reports.head_protocol_table [--dir checkpoints/ablations/head] [--write]

Reads `<row>_seed<k>.json` written by `python -m gald.ablation.head_protocol`. For each row: mean ± sd over its seeds
of mIoU, small-class and large-class IoU and boundary IoU at 5 px, and the delta of its mIoU to the FCN row
with the same seed. A second table has the other comparisons the rows make possible (GALD vs GA alone, vs LD
alone, ...). Every delta has an exact 95 % t-interval over the paired seeds and its p-value, then the
Holm-corrected p-value and interval over the whole family of comparisons (all rows of both tables): `*` marks
a delta whose Holm-corrected interval excludes 0, the only ones the docs call significant. Fewer than 3 pairs:
a sign count.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..ablation.stats import METRICS, comparisons, load, summarize
from . import doc_blocks


def _ms(m: float | None, s: float | None) -> str:
    if m is None:
        return "n/a"
    return f"{m:.1f}" + (f" ± {s:.1f}" if s is not None else " (1 seed)")


def _delta(d: dict[str, Any] | None) -> str:
    """`mean [95 % CI], p | Holm p [Holm CI] *` or a sign count."""
    if d is None:
        return " | "
    if "holm" not in d:
        return f"{d['mean']:+.1f} ({d['positive']}/{d['n']} seeds > 0) | "
    h = d["holm"]
    mark = " *" if h["excludes_zero"] else ""
    return (f"{d['mean']:+.1f} [{d['low']:+.1f}, {d['high']:+.1f}], {_p(d['p'])} | "
            f"{_p(d['p_holm'])} [{h['low']:+.1f}, {h['high']:+.1f}]{mark}")


def _p(p: float) -> str:
    return f"p={p:.3f}" if p >= 0.001 else "p<0.001"


def markdown(rows: list[dict[str, Any]], others: list[dict[str, Any]] | None = None) -> str:
    """`rows` from `summarize`; `others`: the comparisons not against FCN (from `comparisons`)."""
    family = next((r["delta"]["family_size"] for r in rows if r["delta"] and "family_size" in r["delta"]), 0)
    holm = f"Holm over {family} comparisons" if family else "Holm"
    lines = ["| row | seeds | mIoU | small-class IoU | large-class IoU | boundary IoU @5px | Δ mIoU vs FCN, "
             f"paired [95 % CI], p | {holm}: p [CI] |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        st = r["stats"]
        lines.append(f"| {r['title']} | {len(r['seeds'])} | " + " | ".join(_ms(*st[k]) for k in METRICS)
                     + f" | {_delta(r['delta'])} |")
    if others:
        lines += ["", f"| comparison | pairs | Δ mIoU, paired [95 % CI], p | {holm}: p [CI] |", "|---|---|---|---|"]
        lines += [f"| {c['title']} | {c['n']} | {_delta(c)} |" for c in others]
    lines.append("\n`*`: the Holm-corrected interval excludes 0 (family-wise error 5 %).")
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
    runs = load(args.dir)
    if not runs:
        raise SystemExit(f"no head-protocol JSONs in {args.dir}")
    doc_blocks.emit(table(runs), args, doc_blocks.ROOT / "docs" / "ablations.md", __spec__.name, "--dir", args.dir)


def curve_lines(rows: list[dict[str, Any]], runs: dict[str, Any]) -> list[str]:
    """Learning curves (runs with `--curve-every`): val mIoU at 60 %, 80 % and 100 % of the steps, mean over
    the row's seeds, and the change over the last 20 % — the "is it flat" check. `rows` from `summarize`."""
    lines = []
    for r in rows:
        curves = [v["curve"] for v in runs[r["row"]].values() if v.get("curve")]
        if not curves:
            continue
        last = curves[0][-1][0]
        marks = [round(last * f) for f in (0.6, 0.8, 1.0)]
        at = []
        for step in marks:  # the recorded point nearest each mark, mean over seeds
            vals = [100 * min(c, key=lambda pt, step=step: abs(pt[0] - step))[1] for c in curves]
            at.append(sum(vals) / len(vals))
        lines.append(f"| {r['title']} | {len(curves)} | " + " | ".join(f"{v:.1f}" for v in at)
                     + f" | {at[2] - at[1]:+.1f} |")
    if not lines:
        return []
    return ["", f"Learning curves: val mIoU (mean over seeds) at {marks[0]}, {marks[1]} and {marks[2]} steps.", "",
            "| row | seeds | 60 % | 80 % | 100 % | last 20 % of steps |", "|---|---|---|---|---|---|", *lines]


def table(runs: dict[str, Any]) -> str:
    """The whole generated block: the row table, the family's comparisons that are not against FCN, and the
    learning curves when the runs recorded them."""
    rows = summarize(runs)
    return "\n".join([markdown(rows, [c for c in comparisons(runs) if c["base"] != "fcn"]), *curve_lines(rows, runs)])


if __name__ == "__main__":
    main()
