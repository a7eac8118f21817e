"""Plotly figures and tables: the dashboard (evaluation JSONs), the mask-vs-segment-size scatter,
per-image IoU and the confusion matrix. Pure functions of arrays / dicts; small figures (fast JSON).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from gald.ablation.rows import row_title
from gald.evaluation.metrics import small_large_split
from gald.evaluation.segments import ERROR_KINDS
from gald.heads import LD_OFF_KEY, LD_OFF_TITLE, TITLES

HEAD_COLOURS = {"fcn": "#9aa5b1", "ga": "#4c78a8", "gald": "#f58518", "gald_ld_off": "#b279a2"}
HEAD_NAMES = {**TITLES, LD_OFF_KEY: LD_OFF_TITLE}
FONT = dict(family="Inter, system-ui, sans-serif", size=12)


def layout(fig: go.Figure, title: str, height: int = 360, **kwargs) -> go.Figure:
    fig.update_layout(title=dict(text=title, x=0.01, font=dict(size=14)), height=height, template="plotly_white",
                      margin=dict(l=50, r=20, t=48, b=40), font=FONT,
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0), **kwargs)
    return fig


def rgb_hex(colour) -> str:
    r, g, b = (int(v) for v in colour)
    return f"#{r:02x}{g:02x}{b:02x}"


# --------------------------------------------------------------------------- per image
def segment_scatter(stats: dict[str, np.ndarray], class_names: list[str], palette) -> go.Figure:
    """Mean LD mask per predicted segment vs segment area (log x), one trace (colour) per class."""
    fig = go.Figure()
    for c, name in enumerate(class_names):
        sel = stats["cls"] == c
        if not sel.any():
            continue
        area, m = stats["area"][sel], stats["mean_m"][sel]
        fig.add_trace(go.Scatter(
            x=area.round(0).tolist(), y=m.round(4).tolist(), mode="markers", name=name,
            marker=dict(color=rgb_hex(palette[c]), size=9, opacity=0.85, line=dict(width=0.6, color="#333")),
            hovertemplate=f"{name}<br>area %{{x:.0f}} px<br>mean M %{{y:.3f}}<extra></extra>"))
    if len(stats["area"]) > 2:  # a least-squares trend on log area
        x, y = np.log10(np.maximum(stats["area"], 1)), stats["mean_m"]
        if np.ptp(x) > 0:
            slope, icpt = np.polyfit(x, y, 1)
            xs = np.array([x.min(), x.max()])
            fig.add_trace(go.Scatter(x=(10 ** xs).tolist(), y=(slope * xs + icpt).tolist(), mode="lines",
                                     name=f"trend ({slope:+.3f} per decade)",
                                     line=dict(color="#222", dash="dash", width=1.5), hoverinfo="skip"))
    layout(fig, "LD mask inside each predicted segment vs its size", height=400)
    fig.update_xaxes(type="log", title="segment area (pixels, log scale)")
    fig.update_yaxes(title="mean of M over channels and segment")
    return fig


def confusion_figure(mat: np.ndarray, class_names: list[str]) -> go.Figure:
    """Row-normalised confusion matrix (rows = ground truth), counts on hover."""
    mat = np.asarray(mat, dtype=np.float64)
    rows = mat.sum(1, keepdims=True)
    norm = np.divide(mat, rows, out=np.zeros_like(mat), where=rows > 0)
    text = [[f"{v:.0%}" if v >= 0.01 else "" for v in row] for row in norm]
    fig = go.Figure(go.Heatmap(
        z=norm.round(4).tolist(), x=class_names, y=class_names, text=text, texttemplate="%{text}",
        customdata=mat.astype(np.int64).tolist(), colorscale="Blues", zmin=0, zmax=1,
        colorbar=dict(title="share", thickness=12),
        hovertemplate="truth %{y}<br>predicted %{x}<br>%{customdata} px (%{z:.1%} of the row)<extra></extra>"))
    layout(fig, "GALD confusion matrix on this image (rows: ground truth)", height=460)
    fig.update_yaxes(autorange="reversed", title="ground truth")
    fig.update_xaxes(title="prediction", tickangle=-40)
    return fig


def image_iou_table(results: dict[str, dict[str, Any]], class_names: list[str], shares: np.ndarray,
                    errors: dict[str, dict[str, int]] | None = None) -> tuple[list[str], list[list[Any]]]:
    """(headers, rows): per-class IoU (%) of each head on the current image; '-' where undefined; then the
    error decomposition of each head (% of the labelled pixels) when given."""
    heads = list(results)
    headers = ["class", "GT share %"] + [HEAD_NAMES.get(h, h) for h in heads]
    rows = []
    for c, name in enumerate(class_names):
        row: list[Any] = [name, round(100 * float(shares[c]), 2)]
        for h in heads:
            v = results[h]["per_class_iou"][c]
            row.append("-" if v is None or not np.isfinite(v) else round(100 * float(v), 1))
        rows.append(row)
    rows.append(["mIoU", ""] + [round(100 * float(results[h]["miou"]), 1) for h in heads])
    rows.append(["pixel accuracy", ""] + [round(100 * float(results[h]["pixel_accuracy"]), 1) for h in heads])
    for kind in ERROR_KINDS if errors else ():
        rows.append([f"errors: {kind.replace('_', ' ')} % (½ res.)", ""]
                    + [round(100 * errors[h][kind] / max(errors[h]["valid"], 1), 2) if h in errors else "-"
                       for h in heads])
    return headers, rows


ERROR_COLOURS = {"missed_segment": "#e45756", "hallucinated_segment": "#b279a2", "boundary": "#f2b701",
                 "interior": "#9aa5b1"}


def error_decomposition_bars(decomp: dict[str, dict[str, float]] | None) -> go.Figure | None:
    """Stacked bars per head: the share of labelled pixels in each error kind (evaluation JSON)."""
    if not isinstance(decomp, dict) or not decomp:
        return None
    heads = [h for h in ("fcn", "ga", "gald") if h in decomp] + [h for h in decomp if h not in ("fcn", "ga", "gald")]
    fig = go.Figure()
    for kind in ERROR_KINDS:
        fig.add_trace(go.Bar(y=[HEAD_NAMES.get(h, h) for h in heads],
                             x=[round(100 * float(decomp[h].get(kind, 0.0)), 2) for h in heads], orientation="h",
                             name=kind.replace("_", " "), marker_color=ERROR_COLOURS[kind],
                             hovertemplate="%{y}: %{x:.2f}% of labelled pixels<extra>" + kind + "</extra>"))
    layout(fig, "Where the errors are: missed / made-up segments, boundaries, interiors", height=260,
            barmode="stack")
    fig.update_xaxes(title="% of labelled pixels")
    return fig


# --------------------------------------------------------------------------- evaluation files
def load_json(path: Path | None) -> tuple[dict[str, Any] | None, str | None]:
    """(data, problem): a missing file is not a problem worth an error, a broken one is reported."""
    if path is None or not Path(path).is_file():
        return None, None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"could not read {path}: {exc}"
    if not isinstance(data, dict) or not isinstance(data.get("heads"), dict):
        return None, f"{path} has no \"heads\" section"
    return data, None


def _head_order(heads: dict) -> list[str]:
    return [h for h in ("fcn", "ga", "gald") if h in heads] + [h for h in heads if h not in ("fcn", "ga", "gald")]


def _class_iou(head: dict, name: str, index: int) -> float | None:
    per = head.get("per_class_iou")
    if isinstance(per, dict):
        v = per.get(name)
    elif isinstance(per, list) and index < len(per):
        v = per[index]
    else:
        v = None
    return float(v) if isinstance(v, (int, float)) and np.isfinite(v) else None


def iou_bars(ev: dict[str, Any], class_names: list[str]) -> go.Figure:
    fig = go.Figure()
    for h in _head_order(ev["heads"]):
        ious = [_class_iou(ev["heads"][h], n, i) for i, n in enumerate(class_names)]
        miou = ev["heads"][h].get("miou")
        label = HEAD_NAMES.get(h, h) + (f" (mIoU {100 * miou:.1f})" if isinstance(miou, (int, float)) else "")
        fig.add_trace(go.Bar(x=class_names, y=[None if v is None else round(100 * v, 2) for v in ious],
                             name=label, marker_color=HEAD_COLOURS.get(h)))
    layout(fig, "Per-class IoU on the validation set, by head", barmode="group")
    fig.update_yaxes(title="IoU (%)", range=[0, 100])
    return fig


def split_classes(class_names: list[str], shares: dict[str, float] | None) -> tuple[list[str], list[str]]:
    """Small vs large classes by the library's one rule (gald.evaluation.metrics.small_large_split)."""
    split = small_large_split(class_names, shares)
    return split["small"], split["large"]


def small_large_table(ev: dict[str, Any], class_names: list[str]) -> tuple[list[str], list[list[Any]]]:
    small, large = split_classes(class_names, ev.get("class_pixel_share"))
    headers = ["head", f"small ({len(small)} classes)", f"large ({len(large)} classes)", "all (mIoU)"]
    rows = []
    for h in _head_order(ev["heads"]):
        head = ev["heads"][h]

        def mean(names, head=head):
            vals = [_class_iou(head, n, class_names.index(n)) for n in names if n in class_names]
            vals = [v for v in vals if v is not None]
            return round(100 * float(np.mean(vals)), 1) if vals else "-"

        miou = head.get("miou")
        rows.append([HEAD_NAMES.get(h, h), mean(small), mean(large),
                     round(100 * miou, 1) if isinstance(miou, (int, float)) else mean(class_names)])
    return headers, rows


def boundary_curves(ev: dict[str, Any]) -> go.Figure | None:
    bands = ev.get("boundary_iou")
    if not isinstance(bands, dict) or not bands:
        return None
    fig = go.Figure()
    for h in _head_order(bands):
        pts = sorted((float(k), float(v)) for k, v in bands[h].items() if isinstance(v, (int, float)))
        fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[round(100 * p[1], 2) for p in pts], mode="lines+markers",
                                 name=HEAD_NAMES.get(h, h), line=dict(color=HEAD_COLOURS.get(h), width=2.5)))
    layout(fig, "Boundary-band mIoU: pixels within d px of a class boundary")
    fig.update_xaxes(title="band width d (pixels)")
    fig.update_yaxes(title="mIoU in band (%)")
    return fig


def ablation_rows(ablations: list[tuple[str, dict[str, Any]]]) -> tuple[list[str], list[list[Any]]]:
    headers = ["ablation", "FCN", "GA", "GALD"]
    rows = []
    for name, ev in ablations:
        heads = ev.get("heads", {})
        cells = []
        for h in ("fcn", "ga", "gald"):
            v = heads.get(h, {}).get("miou") if isinstance(heads.get(h), dict) else None
            cells.append(round(100 * v, 1) if isinstance(v, (int, float)) else "-")
        rows.append([row_title(str(ev.get("name") or name)), *cells])
    return headers, rows


def ablation_bars(rows: list[list[Any]]) -> go.Figure:
    names = [r[0] for r in rows]
    main = [r[3] if r[3] != "-" else (r[2] if r[2] != "-" else r[1]) for r in rows]
    fig = go.Figure(go.Bar(x=[None if v == "-" else v for v in main], y=names, orientation="h",
                           marker_color=HEAD_COLOURS["gald"], text=[str(v) for v in main], textposition="auto"))
    layout(fig, "Ablations: mIoU of the main head", height=max(220, 60 + 34 * len(rows)))
    fig.update_xaxes(title="mIoU (%)")
    fig.update_yaxes(autorange="reversed")
    return fig


def learning_curve(curve: dict[str, Any] | None) -> go.Figure | None:
    """Train loss (left axis) and val mIoU per head (right axis) against the step, from the checkpoint's
    `learning_curve` metadata (written by `python -m gald.export --log`)."""
    if not isinstance(curve, dict) or not (curve.get("train") or curve.get("val")):
        return None
    fig = go.Figure()
    train = [r for r in curve.get("train") or [] if isinstance(r, dict)]
    if train:
        fig.add_trace(go.Scatter(x=[r.get("step") for r in train], y=[r.get("loss") for r in train], mode="lines",
                                 name="train loss", line=dict(color="#bbbbbb", width=1.5)))
    val = [r for r in curve.get("val") or [] if isinstance(r, dict)]
    for h in ("fcn", "ga", "gald"):
        pts = [(r["step"], r[f"{h}_miou"]) for r in val if isinstance(r.get(f"{h}_miou"), (int, float))]
        if pts:
            fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[round(100 * p[1], 2) for p in pts],
                                     mode="lines+markers", name=f"{HEAD_NAMES[h]} val mIoU", yaxis="y2",
                                     line=dict(color=HEAD_COLOURS[h], width=2.5)))
    for start in curve.get("phase_starts") or []:  # a run continued from an earlier checkpoint's weights
        fig.add_vline(x=start, line=dict(color="#888888", dash="dot", width=1))
    layout(fig, "Learning curve of this checkpoint" + (" (training phases split by dotted lines)"
                                                        if curve.get("phase_starts") else ""),
            yaxis=dict(title="train loss (OHEM + aux + probes)"),
            yaxis2=dict(title="val mIoU (%)", overlaying="y", side="right", rangemode="tozero"))
    fig.update_xaxes(title="training step")
    return fig


def seeded_ablation_table(by_protocol: dict[str, list[dict[str, Any]]]) -> tuple[list[str], list[list[Any]]]:
    """Rows of `gald.ablation.stats.summarize` per protocol: mean ± sd over seeds and the paired delta to FCN."""
    headers = ["protocol", "row", "seeds", "mIoU % (mean ± sd)", "Δ vs FCN, paired [95% CI]",
               "Δ vs FCN, Holm-corrected [CI]", "boundary IoU @5px %"]
    out = []
    for protocol, rows in by_protocol.items():
        for r in rows:
            m, s = r["stats"]["miou"]
            b, bs = r["stats"]["boundary_iou_5"]
            d = r["delta"]
            holm = ""
            if d is None:
                delta = "baseline" if r["row"] == "fcn" else "-"
            elif "holm" in d:  # * follows the corrected interval: the only one the docs call significant
                h = d["holm"]
                delta = f"{d['mean']:+.1f} [{d['low']:+.1f}, {d['high']:+.1f}]"
                holm = f"[{h['low']:+.1f}, {h['high']:+.1f}]" + (" *" if h["excludes_zero"] else "")
            else:
                delta = f"{d['mean']:+.1f} ({d['positive']}/{d['n']} seeds > 0)"
            one = " (1 seed)" if len(r["seeds"]) == 1 else ""
            out.append([protocol, r["title"], len(r["seeds"]),
                        "n/a" if m is None else f"{m:.1f}" + (f" ± {s:.1f}" if s is not None else one), delta, holm,
                        "n/a" if b is None else f"{b:.1f}" + (f" ± {bs:.1f}" if bs is not None else "")])
    return headers, out


def pixel_probabilities(probs: dict[str, np.ndarray], class_names: list[str], top: int = 6) -> go.Figure:
    """Grouped bars: class probabilities of each head at one pixel (the classes any head gives >= 1 %, at most
    `top` of them, by their largest probability)."""
    stacked = np.stack(list(probs.values()))
    order = [int(c) for c in np.argsort(-stacked.max(0)) if stacked[:, c].max() >= 0.01][:top]
    fig = go.Figure()
    for head, p in probs.items():
        fig.add_trace(go.Bar(x=[class_names[c] for c in order], y=[round(100 * float(p[c]), 2) for c in order],
                             name=HEAD_NAMES.get(head, head), marker_color=HEAD_COLOURS.get(head)))
    layout(fig, "Class probabilities at this pixel", height=300, barmode="group")
    fig.update_yaxes(title="probability (%)", range=[0, 100])
    return fig
