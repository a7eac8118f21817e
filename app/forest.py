"""The Dashboard's ablation chart as a forest plot: each Table 1 row's mIoU difference to FCN, paired by seed,
with its 95 % interval and the interval corrected for the number of comparisons (Holm), per protocol.

`forest_plot` is a pure function of arrays; `forest_from_summaries` adapts the rows of
`gald.ablation_stats.summarize` (whose `delta` holds `low`/`high` and, where the statistics module computes
it, `holm` = {low, high, excludes_zero}); without a corrected interval a row is never marked significant.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go

from .plots import HEAD_COLOURS, layout

PROTOCOL_COLOURS = {"head": HEAD_COLOURS["gald"], "end-to-end": HEAD_COLOURS["ga"]}
NOT_SIGNIFICANT = "#8a8f98"


def _nan(values) -> np.ndarray:
    return np.array([math.nan if v is None else float(v) for v in values], dtype=float)


def forest_plot(labels: list[str], delta, lo, hi, lo_corr, hi_corr, significant, groups: list[str],
                title: str = "Ablations: Δ mIoU to FCN, paired by seed") -> go.Figure:
    """One line per row, top to bottom in the given order: a point at `delta`, a thin bar for the 95 % interval
    [lo, hi], a thick light bar for the corrected interval [lo_corr, hi_corr] (NaN / None: not available),
    a filled diamond and a star where `significant` (the corrected interval excludes 0), an open circle
    elsewhere; `groups` (protocol per row) picks the colour. A dashed line marks zero."""
    delta, lo, hi, lo_corr, hi_corr = (_nan(a) for a in (delta, lo, hi, lo_corr, hi_corr))
    significant = np.asarray(significant, dtype=bool)
    fig = go.Figure()
    for group in dict.fromkeys(groups):
        sel = np.array([g == group for g in groups])
        colour = PROTOCOL_COLOURS.get(group, "#555555")
        y = [labels[i] for i in np.flatnonzero(sel)]
        d = delta[sel]
        fig.add_trace(go.Scatter(  # corrected interval: thick and light, under the rest
            x=d, y=y, mode="markers", marker=dict(size=0.1, color=colour), showlegend=False, hoverinfo="skip",
            error_x=dict(type="data", symmetric=False, array=hi_corr[sel] - d, arrayminus=d - lo_corr[sel],
                         thickness=9, width=0, color=_transparent(colour, 0.3))))
        sig = significant[sel]
        hover = [f"{lab}<br>Δ {v:+.2f} pp" + (f"<br>95% CI [{a:+.2f}, {b:+.2f}]" if np.isfinite(a) else "")
                 + (f"<br>Holm [{c:+.2f}, {e:+.2f}]" if np.isfinite(c) else "") + ("<br>excludes 0 after correction"
                                                                                    if s else "")
                 for lab, v, a, b, c, e, s in zip(y, d, lo[sel], hi[sel], lo_corr[sel], hi_corr[sel], sig,
                                                  strict=True)]
        fig.add_trace(go.Scatter(
            x=d, y=y, mode="markers+text", name=f"{group} protocol", hovertext=hover, hoverinfo="text",
            text=["*" if s else "" for s in sig], textposition="middle right", textfont=dict(size=16, color=colour),
            marker=dict(symbol=["diamond" if s else "circle-open" for s in sig], size=11,
                        color=[colour if s else NOT_SIGNIFICANT for s in sig], line=dict(width=1.5)),
            error_x=dict(type="data", symmetric=False, array=hi[sel] - d, arrayminus=d - lo[sel], thickness=1.5,
                         width=5, color=colour)))
    fig.add_vline(x=0, line=dict(color="#333333", dash="dash", width=1))
    layout(fig, f"{title}<br><sup>thin: 95% interval · thick: Holm-corrected · ◆ * the corrected interval "
                 "excludes 0</sup>", height=max(260, 90 + 30 * len(labels)))
    fig.update_layout(margin=dict(l=50, r=20, t=70, b=40))
    fig.update_xaxes(title="Δ mIoU vs FCN (percentage points, paired by seed)", zeroline=False)
    fig.update_yaxes(autorange="reversed", type="category")
    return fig


def _transparent(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i: i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def forest_from_summaries(by_protocol: dict[str, list[dict[str, Any]]]) -> go.Figure | None:
    """Rows of `gald.ablation_stats.summarize` per protocol -> `forest_plot` (FCN, the baseline, is the zero
    line; rows without a paired delta are left out; rows with < 3 paired seeds show the mean difference only)."""
    columns: dict[str, list[Any]] = {k: [] for k in ("labels", "delta", "lo", "hi", "lo_corr", "hi_corr",
                                                     "significant", "groups")}
    for protocol, rows in by_protocol.items():
        for r in rows:
            d = r.get("delta")
            if not d:
                continue
            corrected = d.get("holm") or {}
            seeds = f"{d['n']} seed{'s' if d['n'] != 1 else ''}"
            for key, value in (("labels", f"{protocol}: {r['title']} ({seeds})"), ("delta", d["mean"]),
                               ("lo", d.get("low")), ("hi", d.get("high")), ("lo_corr", corrected.get("low")),
                               ("hi_corr", corrected.get("high")),
                               ("significant", bool(corrected.get("excludes_zero"))), ("groups", protocol)):
                columns[key].append(value)
    if not columns["labels"]:
        return None
    return forest_plot(**columns)
