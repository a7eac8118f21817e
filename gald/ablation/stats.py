"""Statistics over seeds for ablation rows: mean ± sd per row and deltas to FCN paired by seed.

Used by `gald/reports/head_protocol_table.py` (README table) and the app's Dashboard (error bars).
Input: `<row>_seed<k>.json` files as written by `python -m gald.ablation.head_protocol`.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from statistics import mean, stdev
from typing import Any

from .rows import ROW_ORDER, row_title

# two-sided 95 % Student-t quantiles by degrees of freedom
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}
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
    return row_title(row)


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
    for row in [r for r in ROW_ORDER if r in runs] + sorted(set(runs) - set(ROW_ORDER)):
        seeds = runs[row]
        stats = {}
        for k in METRICS:
            vals = [100 * v[k] for v in seeds.values() if isinstance(v.get(k), (int, float))]
            stats[k] = (mean(vals), stdev(vals) if len(vals) > 1 else None) if vals else (None, None)
        fig4 = [v["mask_vs_size"] for v in seeds.values()
                if isinstance(v.get("mask_vs_size"), dict) and v["mask_vs_size"].get("images")]
        corr = [f["corr_per_image_median"] for f in fig4]
        mask_vs_size = {"seeds": len(fig4), "median_corr": (mean(corr), stdev(corr) if len(corr) > 1 else None),
                        "positive_share": mean(f["positive_share"] for f in fig4),
                        "images": fig4[0]["images"]} if fig4 else None
        rows.append({"row": row, "title": title(row), "seeds": sorted(seeds), "stats": stats,
                     "mask_vs_size": mask_vs_size,
                     "delta": None if row == "fcn" else paired_delta(seeds, runs.get("fcn", {})),
                     "iters": next(iter(seeds.values())).get("iters")})
    return rows


