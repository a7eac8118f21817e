"""Table 1 under the head protocol: mean ± sd over seeds per row, and each row's delta to FCN paired by seed.

    .venv/bin/python -m benchmarks.head_protocol_table [--dir checkpoints/ablations/head]

Reads `<row>_seed<k>.json` written by `python -m gald.head_protocol`. For each row: mean ± sd over its seeds
of mIoU, small-class and large-class IoU and boundary IoU at 5 px; the delta of its mIoU to the FCN row with
the same seed, with a 95 % t-interval over the paired seeds (a sign count when fewer than 3 pairs). A
difference is called "interval excludes 0" only when it does.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path
from statistics import mean, stdev
from typing import Any

from gald.ablation_rows import PAPER_ROWS
from gald.head_protocol import ROWS

# two-sided 95 % Student-t quantiles by degrees of freedom
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}
TITLES = {"psp": "+PSP", "aspp": "+ASPP", "nl": "+NL", "ld_avgpool": "+CGNL+LD (avg-pool mask)",
          "ld_bilinear": "+CGNL+LD (bilinear mask)"}
METRICS = ("miou", "small_miou", "large_miou", "boundary_iou_5")
FILE = re.compile(r"(?P<row>.+)_seed(?P<seed>\d+)\.json")


def load(directory: Path) -> dict[str, dict[int, dict[str, Any]]]:
    runs: dict[str, dict[int, dict[str, Any]]] = {}
    for path in sorted(directory.glob("*_seed*.json")):
        m = FILE.fullmatch(path.name)
        if m:
            runs.setdefault(m["row"], {})[int(m["seed"])] = json.loads(path.read_text())
    return runs


def title(row: str) -> str:
    return TITLES.get(row) or (PAPER_ROWS[row][0] if row in PAPER_ROWS else row)


def paired_delta(row: dict[int, dict[str, Any]], fcn: dict[int, dict[str, Any]]) -> dict[str, Any] | None:
    seeds = sorted(set(row) & set(fcn))
    if not seeds:
        return None
    d = [100 * (row[s]["miou"] - fcn[s]["miou"]) for s in seeds]
    out: dict[str, Any] = {"n": len(d), "mean": mean(d)}
    if len(d) >= 3:
        half = T95.get(len(d) - 1, 1.96) * stdev(d) / math.sqrt(len(d))
        out.update(low=mean(d) - half, high=mean(d) + half)
        out["excludes_zero"] = out["low"] > 0 or out["high"] < 0
    else:
        out["positive"] = sum(x > 0 for x in d)
    return out


def summarize(runs: dict[str, dict[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = []
    for row in [r for r in ROWS if r in runs] + sorted(set(runs) - set(ROWS)):
        seeds = runs[row]
        stats = {}
        for k in METRICS:
            vals = [100 * v[k] for v in seeds.values() if isinstance(v.get(k), (int, float))]
            stats[k] = (mean(vals), stdev(vals) if len(vals) > 1 else None) if vals else (None, None)
        rows.append({"row": row, "title": title(row), "seeds": sorted(seeds), "stats": stats,
                     "delta": None if row == "fcn" else paired_delta(seeds, runs.get("fcn", {})),
                     "iters": next(iter(seeds.values())).get("iters")})
    return rows


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
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="checkpoints/ablations/head", type=Path)
    args = ap.parse_args()
    rows = summarize(load(args.dir))
    if not rows:
        raise SystemExit(f"no head-protocol JSONs in {args.dir}")
    print(markdown(rows))


if __name__ == "__main__":
    main()
