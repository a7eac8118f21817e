"""Statistics over seeds for ablation rows: mean ± sd per row, and paired comparisons between rows with exact
Student-t intervals and p-values, uncorrected and Holm-corrected across the table's family of comparisons.

Used by `gald/reports/head_protocol_table.py` (docs/ablations.md) and the app's Dashboard (error bars).
Input: `<row>_seed<k>.json` files as written by `python -m gald.ablation.head_protocol`.

The Student-t distribution is computed here (regularised incomplete beta, Lentz's continued fraction) rather
than imported: scipy is not a dependency, and a z fallback is anti-conservative at 3-10 seeds.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from statistics import mean, stdev
from typing import Any

from .rows import ROW_ORDER, row_title

METRICS = ("miou", "small_miou", "large_miou", "boundary_iou_5")
FILE = re.compile(r"(?P<row>.+)_seed(?P<seed>\d+)\.json")
ALPHA = 0.05
BASELINE = "fcn"
# The comparisons a Table 1 makes besides "row vs FCN": (row, the row it is measured against). Adding LD to a GA
# is judged against that GA alone and against LD alone; a variant of an arrangement against the arrangement.
COMPARISONS: tuple[tuple[str, str], ...] = (
    ("gald", "ga"), ("gald", "ld"), ("psp_ld", "psp"), ("psp_ld", "ld"), ("aspp_ld", "aspp"), ("aspp_ld", "ld"),
    ("nl_ld", "nl"), ("nl_ld", "ld"), ("ldga", "gald"), ("parallel", "gald"), ("ld_avgpool", "gald"),
    ("ld_bilinear", "gald"), ("ga_residual_full", "ga"), ("gald_residual_full", "gald"),
    ("gald_residual_full", "ga_residual_full"), ("ga_layernorm", "ga"), ("gald_layernorm", "ga_layernorm"),
    ("gald_layernorm", "ld"), ("gald_layernorm", "gald"),
)


# --- Student-t distribution ----------------------------------------------------------------------------------

def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz), converges for x < (a+1)/(a+b+2)."""
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            return h
    raise ArithmeticError(f"incomplete beta did not converge (a={a}, b={b}, x={x})")


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the CDF of a Beta(a, b) variable at x."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must lie in [0, 1], got {x}")
    if x in (0.0, 1.0):
        return x
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def t_sf_two_sided(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with `df` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    if math.isinf(t):
        return 0.0
    return regularized_incomplete_beta(df / 2.0, 0.5, df / (df + t * t))


def t_cdf(t: float, df: float) -> float:
    tail = 0.5 * t_sf_two_sided(t, df)
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t (bisection on the exact CDF, to ~1e-12 relative)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must lie in (0, 1), got {p}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, 2.0 * high
    for _ in range(200):
        mid = 0.5 * (low + high)
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
        if high - low <= 1e-12 * max(1.0, high):
            break
    return 0.5 * (low + high)


# --- multiple comparisons ------------------------------------------------------------------------------------

def holm_adjust(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order: for the j-th smallest of m p-values
    max over i <= j of (m - i + 1) * p_(i), capped at 1. Reject at level alpha where adjusted p < alpha."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def holm_levels(pvalues: list[float], alpha: float = ALPHA) -> list[float]:
    """The significance level Holm's procedure tests each comparison at: alpha / (m - j + 1) for the j-th smallest
    p-value, frozen at the first step that does not reject (the procedure stops there). A two-sided interval at
    confidence 1 - level then excludes 0 exactly when Holm rejects (up to ties)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    levels, stopped = [0.0] * m, None
    for rank, i in enumerate(order):
        level = stopped if stopped is not None else alpha / (m - rank)
        if stopped is None and pvalues[i] >= level:
            stopped = level
        levels[i] = level
    return levels


# --- per-seed data -------------------------------------------------------------------------------------------

def load(directory: Path) -> dict[str, dict[int, dict[str, Any]]]:
    runs: dict[str, dict[int, dict[str, Any]]] = {}
    for path in sorted(directory.glob("*_seed*.json")):
        m = FILE.fullmatch(path.name)
        if m:
            runs.setdefault(m["row"], {})[int(m["seed"])] = json.loads(path.read_text())
    return runs


def title(row: str) -> str:
    return row_title(row)


def paired_delta(row: dict[int, dict[str, Any]], base: dict[int, dict[str, Any]], metric: str = "miou",
                 confidence: float = 1 - ALPHA) -> dict[str, Any] | None:
    """Mean of row - base over the seeds both have (percentage points); with >= 3 pairs a t-interval at
    `confidence` and the two-sided p-value of the paired t-test, else the count of positive differences."""
    seeds = sorted(set(row) & set(base))
    if not seeds:
        return None
    d = [100 * (row[s][metric] - base[s][metric]) for s in seeds]
    out: dict[str, Any] = {"n": len(d), "mean": mean(d)}
    if len(d) < 3:
        out["positive"] = sum(x > 0 for x in d)
        return out
    se = stdev(d) / math.sqrt(len(d))
    df = len(d) - 1
    out.update(se=se, df=df, **interval(out["mean"], se, df, confidence))
    out["p"] = 1.0 if se == 0 and out["mean"] == 0 else (0.0 if se == 0 else t_sf_two_sided(out["mean"] / se, df))
    return out


def interval(center: float, se: float, df: int, confidence: float) -> dict[str, Any]:
    half = t_quantile(0.5 + confidence / 2, df) * se
    low, high = center - half, center + half
    return {"low": low, "high": high, "excludes_zero": low > 0 or high < 0}


def compare_family(runs: dict[str, dict[int, dict[str, Any]]], pairs: list[tuple[str, str]],
                   alpha: float = ALPHA) -> list[dict[str, Any]]:
    """Paired comparisons for `pairs` (row, base) with uncorrected and Holm-corrected p-values and intervals.
    The Holm family is every pair with >= 3 paired seeds; smaller pairs get a sign count only."""
    out = []
    for row, base in pairs:
        d = paired_delta(runs[row], runs[base], confidence=1 - alpha)
        if d is not None:
            out.append({"row": row, "base": base, "title": f"{title(row)} vs {title(base)}", **d})
    tested = [c for c in out if "p" in c]
    for c, p_holm, level in zip(tested, holm_adjust([c["p"] for c in tested]),
                                holm_levels([c["p"] for c in tested], alpha), strict=True):
        c["p_holm"], c["holm_level"], c["family_size"] = p_holm, level, len(tested)
        c["holm"] = interval(c["mean"], c["se"], c["df"], 1 - level)
    return out


def family_pairs(runs: dict[str, Any]) -> list[tuple[str, str]]:
    """Every row against FCN, then the COMPARISONS whose rows both exist, in table order."""
    order = [r for r in ROW_ORDER if r in runs] + sorted(set(runs) - set(ROW_ORDER))
    pairs = [(r, BASELINE) for r in order if r != BASELINE and BASELINE in runs]
    return pairs + [(r, b) for r, b in COMPARISONS if r in runs and b in runs]


def summarize(runs: dict[str, dict[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """One entry per row: mean ± sd per metric, Fig. 4 summary, and `delta` (vs FCN, with its Holm fields from
    the family of `family_pairs`)."""
    vs_fcn = {c["row"]: c for c in compare_family(runs, family_pairs(runs)) if c["base"] == BASELINE}
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
                     "mask_vs_size": mask_vs_size, "delta": vs_fcn.get(row),
                     "iters": next(iter(seeds.values())).get("iters")})
    return rows


def comparisons(runs: dict[str, dict[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The whole family (vs FCN and the COMPARISONS), each with uncorrected and Holm-corrected statistics."""
    return compare_family(runs, family_pairs(runs))
