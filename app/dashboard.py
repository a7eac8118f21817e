"""The Dashboard tab's values: evaluation JSON, learning curve and ablations of the loaded checkpoint.

Pure reads of JSON files beside the checkpoint (`x.eval.json`, `ablations/*.json`, `ablations/head/*.json`)
turned into plotly figures and tables; the UI only places them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from gald.ablation import stats as ablation_stats
from gald.reports.training_phases import phased_learning_curve

from . import plots
from .inference import Predictor

PROTOCOL_FOLDERS = {"head": "head", "end-to-end": "e2e"}
PROTOCOL_NOTES = {"head": "head protocol (frozen ImageNet EfficientNet-Lite0 trunk, only the modules after it trained)",
                  "end-to-end": "end-to-end protocol (the whole model fine-tuned per row and seed, a short budget)"}


def table(headers: list[str], rows: list[list[Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=headers)


def display_path(path: Path | None) -> str:
    """A path as users should see it: relative to the working directory, never the machine's absolute path."""
    if path is None:
        return "(none)"
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return Path(path).name


def dashboard_values(pred: Predictor) -> tuple[Any, ...]:
    """(note, IoU bars, small/large table, boundary curves, error decomposition, learning curve, ablation table,
    ablation bars, has eval, has ablations)."""
    path, ablation_paths = pred.eval_paths()
    ev, problem = plots.load_json(path)
    ablations = []
    for p in ablation_paths:
        data, _ = plots.load_json(p)
        if data is not None:
            ablations.append((p.stem, data))
    names = pred.class_names
    shown = display_path(path)
    if ev is None:
        note = problem or f"No evaluation JSON found (looked for `{shown}`). Run the evaluation to fill this tab."
        sl, iou, curves, errors = table(["head"], []), None, None, None
    else:
        note = f"Validation results from `{shown}`" + (f" ({ev['split']} split)." if "split" in ev else ".")
        iou, curves = plots.iou_bars(ev, names), plots.boundary_curves(ev)
        errors = plots.error_decomposition_bars(ev.get("error_decomposition"))
        sl = table(*plots.small_large_table(ev, names))
    seeded = {}  # Table 1 with several seeds per row: gald.ablation.head_protocol and gald.ablation.end_to_end
    for protocol, folder in PROTOCOL_FOLDERS.items():
        rows = ablation_stats.summarize(ablation_stats.load(path.parent / "ablations" / folder)) if path else []
        if rows:
            seeded[protocol] = rows
    if seeded:
        headers, rows = plots.seeded_ablation_table(seeded)
        abl_table, abl_plot = table(headers, rows), plots.seeded_ablation_bars(seeded)
        note += (" Ablations: " + "; ".join(PROTOCOL_NOTES[p] for p in seeded) + ". Mean ± sd over seeds; Δ is "
                 "paired by seed, * where its Holm-corrected 95% interval (over the table's comparisons) excludes 0.")
    elif ablations:
        headers, rows = plots.ablation_rows(ablations)
        abl_table, abl_plot = table(headers, rows), plots.ablation_bars(rows)
        note += " Ablations: one seed per row, so differences between rows may be run-to-run noise."
    else:
        abl_table, abl_plot = table(["ablation"], []), None
        where = display_path(path.parent / "ablations") if path else "checkpoints/ablations"
        note += f" No ablation JSONs in `{where}`."
    final_val = {h: r["miou"] for h, r in ev["heads"].items() if "miou" in r} if ev and "heads" in ev else None
    learning = (plots.learning_curve(phased_learning_curve(pred.meta, final_val))
                if pred.meta.get("learning_curve") else None)
    has_abl = bool(ablations) or bool(seeded)
    return (note, iou, sl, curves, errors, learning, abl_table, abl_plot, ev is not None or learning is not None,
            has_abl)
