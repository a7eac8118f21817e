"""The Dashboard tab's values: evaluation JSON, learning curve and ablations of the loaded checkpoint.

Pure reads of the checkpoint's JSON files (its `eval` measurement, `ablations/*.json`, `ablations/head/*.json`)
turned into plotly figures and tables; the UI only places them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from gald.ablation import stats as ablation_stats
from gald.reports.training_phases import phased_learning_curve

from . import plots
from .forest import forest_from_summaries
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


def dashboard_values(pred: Predictor) -> dict[str, Any]:
    """The tab's checkpoint-level outputs by name (`dashboard_note`, `class_iou`, `small_large`, `boundary`,
    `errors`, `learning`, `ablation_table`, `ablation_plot`) and whether there is anything to show in its two
    boxes (`has_eval`, `has_ablations`)."""
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
    for protocol, folder_name in PROTOCOL_FOLDERS.items():
        folder = pred.ablations_dir()
        rows = ablation_stats.summarize(ablation_stats.load(folder / folder_name)) if folder else []
        if rows:
            seeded[protocol] = rows
    if seeded:
        headers, rows = plots.seeded_ablation_table(seeded)
        abl_table, abl_plot = table(headers, rows), forest_from_summaries(seeded)
        note += (" Ablations: " + "; ".join(PROTOCOL_NOTES[p] for p in seeded) + ". Mean ± sd over seeds; Δ is "
                 "paired by seed, * where its Holm-corrected 95% interval (over the table's comparisons) excludes 0.")
    elif ablations:
        headers, rows = plots.ablation_rows(ablations)
        abl_table, abl_plot = table(headers, rows), plots.ablation_bars(rows)
        note += " Ablations: one seed per row, so differences between rows may be run-to-run noise."
    else:
        abl_table, abl_plot = table(["ablation"], []), None
        where = display_path(pred.ablations_dir()) if pred.ablations_dir() else "checkpoints/ablations"
        note += f" No ablation JSONs in `{where}`."
    final_val = {h: r["miou"] for h, r in ev["heads"].items() if "miou" in r} if ev and "heads" in ev else None
    learning = (plots.learning_curve(phased_learning_curve(pred.meta, final_val))
                if pred.meta.get("learning_curve") else None)
    has_abl = bool(ablations) or bool(seeded)
    return {"dashboard_note": note, "class_iou": iou, "small_large": sl, "boundary": curves, "errors": errors,
            "learning": learning, "ablation_table": abl_table, "ablation_plot": abl_plot,
            "has_eval": ev is not None or learning is not None, "has_ablations": has_abl}
