"""Print the model card's tables (markdown) from a checkpoint's evaluation JSON and metadata.

    .venv/bin/python -m gald.reports.model_card [--checkpoint checkpoints/galdnet_lite2_camvid] [--write]

`--write` puts the tables into the card's generated block, `docs/model_cards/<checkpoint name>.md`.

Reads `CKPT.eval.json` (written by `python -m gald.evaluate ... --json CKPT.eval.json`), `CKPT.json`
(its recipe and `learning_curve`, written by `python -m gald.export --log`) and, when present,
`CKPT.mask.json` (`python -m gald.reports.mask_vs_segment --json`) and `CKPT.ga_reach.json`
(`python -m gald.reports.ga_reach --json`). Prints the recipe, per-class val IoU for the GALD head and the
GA / FCN probes, mIoU / small / large / pixel accuracy, boundary-band IoU, the val mIoU at every
validation of the training run, the LD mask statistics and what the GA aggregates. Nothing here is
typed by hand: rerun it after retraining; tests/training/test_readme_tables.py checks the cards against it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..heads import CARD_TITLES, HEAD_KEYS
from . import doc_blocks
from .training_phases import phased_learning_curve, training_phases

HEADS = tuple(reversed(HEAD_KEYS))  # the main head first
TITLES = CARD_TITLES


def _pct(v: Any) -> str:
    return f"{100 * v:.1f}" if isinstance(v, (int, float)) else "n/a"


def per_class_table(ev: dict[str, Any]) -> str:
    heads = [h for h in HEADS if h in ev["heads"]]
    classes = list(ev["heads"][heads[0]]["per_class_iou"])
    share = ev.get("class_pixel_share") or {}
    lines = ["| class | pixel share | " + " | ".join(TITLES[h] for h in heads) + " |",
             "|---|---|" + "---|" * len(heads)]
    for c in classes:
        cells = [_pct(ev["heads"][h]["per_class_iou"].get(c)) for h in heads]
        pixels = f"{_pct(share[c])}%" if isinstance(share.get(c), (int, float)) else "n/a"
        lines.append(f"| {c} | {pixels} | " + " | ".join(cells) + " |")
    for key, label in (("miou", "**mIoU**"), ("small_miou", "small classes"), ("large_miou", "large classes"),
                       ("pixel_accuracy", "pixel accuracy")):
        lines.append(f"| {label} | | " + " | ".join(_pct(ev["heads"][h].get(key)) for h in heads) + " |")
    return "\n".join(lines)


def boundary_table(ev: dict[str, Any]) -> str:
    bands = ev.get("boundary_iou") or {}
    heads = [h for h in HEADS if h in bands]
    if not heads:
        return ""
    widths = sorted(bands[heads[0]], key=float)
    lines = ["| band width (px) | " + " | ".join(TITLES[h] for h in heads) + " |", "|---|" + "---|" * len(heads)]
    for w in widths:
        lines.append(f"| {w} | " + " | ".join(_pct(bands[h].get(w)) for h in heads) + " |")
    return "\n".join(lines)


def phase_curve_table(meta: dict[str, Any], ev: dict[str, Any]) -> str:
    """A run trained without validation: its train loss per phase and the one val point at each phase's end
    (the last one is this checkpoint's evaluation JSON)."""
    final = {h: r["miou"] for h, r in ev.get("heads", {}).items()}
    curve = phased_learning_curve(meta, final)
    if not curve["train"]:
        return ""
    bounds = [0, *curve["phase_starts"], curve["train"][-1]["step"] + 1]
    lines = ["| phase | steps | train loss, first -> last 50 steps | val mIoU at its end: GALD | GA probe | "
             "FCN probe |", "|---|---|---|---|---|---|"]
    for i in range(len(bounds) - 1):
        rows = [r for r in curve["train"] if bounds[i] < r["step"] <= bounds[i + 1]]
        if not rows:
            continue
        end = max(r["step"] for r in rows)
        first = [r["loss"] for r in rows if r["step"] <= rows[0]["step"] + 50]
        last = [r["loss"] for r in rows if r["step"] > end - 50]
        val = next((v for v in curve["val"] if bounds[i] < v["step"] <= bounds[i + 1] + 1), {})
        lines.append(f"| {i + 1} | {rows[0]['step']}-{end} | {sum(first) / len(first):.3f} -> "
                     f"{sum(last) / len(last):.3f} | {_pct(val.get('gald_miou'))} | {_pct(val.get('ga_miou'))} | "
                     f"{_pct(val.get('fcn_miou'))} |")
    return ("Learning curve (no validation during training; the last row's val is this checkpoint's evaluation "
            "above; the app's dashboard plots the whole curve):\n\n"
            + "\n".join(lines))


def curve_table(meta: dict[str, Any]) -> str:
    val = (meta.get("learning_curve") or {}).get("val") or []
    if not val:
        return ""
    timed = any("wall_s" in r for r in val)
    lines = ["| step | " + ("wall time | " if timed else "") + "GALD val mIoU | GA probe | FCN probe | "
             "boundary IoU @5px |", "|---|" + ("---|" if timed else "") + "---|---|---|---|"]
    for r in val:
        wall = (f"{r['wall_s'] / 60:.0f} min | " if "wall_s" in r else "n/a | ") if timed else ""
        lines.append(f"| {r['step']} | {wall}{_pct(r.get('gald_miou'))} | {_pct(r.get('ga_miou'))} | "
                     f"{_pct(r.get('fcn_miou'))} | {_pct(r.get('boundary_iou_5'))} |")
    return "\n".join(lines)


def _inference_scale(meta: dict[str, Any], data: dict[str, Any]) -> str:
    scale = (meta.get("inference") or {}).get("scale", data.get("input_scale"))
    trained = data.get("input_scale")
    if trained is None or scale == trained:
        return f"inference at scale {scale}"
    return f"inference at scale {scale} (set by `gald.export --inference-scale`; the training config's is {trained})"


def recipe_lines(meta: dict[str, Any]) -> str:
    """The recipe as recorded in the checkpoint's training config (not as remembered)."""
    tr = meta.get("training") or {}
    cfg, d, o, loss = meta.get("config") or {}, tr.get("data") or {}, tr.get("optim") or {}, tr.get("loss") or {}
    if not tr:
        return ""
    ga = cfg.get("ga", "?") + (f" {cfg['ga_kwargs']}" if cfg.get("ga_kwargs") else "")
    trained_os = meta.get("trained_output_stride", cfg.get("output_stride"))
    root = training_phases(meta)[0]  # a continued run: the ImageNet initialisation is the first phase's
    init = (root.get("training") or {}).get("pretrained_backbone") or "none (from scratch)"
    norm = meta.get("normalization") or {}
    lines = [f"- backbone: {cfg.get('backbone')}, ImageNet initialisation: {init}; output stride {trained_os} in "
             f"training, {cfg.get('output_stride')} at inference",
             f"- GALD: arrangement {cfg.get('arrangement')}, GA {ga}, LD {cfg.get('ld_variant')} "
             f"({cfg.get('ld_downsample')}, d={cfg.get('ld_rate')}), {cfg.get('mid_channels')} channels",
             f"- data: crop {d.get('crop_size')}, random scale {d.get('scale_range')} of the full image, h-flip; "
             f"{_inference_scale(meta, d)}; input (x - mean) / std with mean "
             f"{[round(v, 3) for v in norm.get('mean', [])]}, std {[round(v, 3) for v in norm.get('std', [])]}",
             f"- optimisation: SGD lr {o.get('lr')} (trunk x{o.get('backbone_lr_mult', 1.0)}), momentum "
             f"{o.get('momentum')}, weight decay {o.get('weight_decay')} (none on BN, biases"
             f"{', depth-wise kernels' if o.get('no_decay_depthwise') else ''}), poly {o.get('power')} with "
             f"{o.get('warmup_iters')} warm-up steps; batch {o.get('batch_size')}, {tr.get('step')} of "
             f"{o.get('iters')} steps",
             f"- loss: OHEM (threshold {loss.get('thresh')}, min_kept_ratio {loss.get('min_kept_ratio')}) + "
             f"{loss.get('aux_weight')} x auxiliary CE + probe CE"]
    if tr.get("hardware"):  # recorded by the trainer since 2026-11-26; older checkpoints say it in prose
        lines.append(f"- hardware: {tr['hardware']}, {tr.get('train_seconds', 0) / 60:.0f} min of training")
    val = (meta.get("learning_curve") or {}).get("val") or []
    chosen = next((r for r in val if r["step"] == tr.get("step")), None)
    if chosen and "wall_s" in chosen and "wall_s" in val[-1]:
        lines.append(f"- training wall time: {chosen['wall_s'] / 60:.0f} min to the selected step {chosen['step']}, "
                     f"{val[-1]['wall_s'] / 60:.0f} min to the last validation (step {val[-1]['step']}); validation "
                     "included, gaps between sessions excluded")
    return "\n".join(lines)


def _phase(meta: dict[str, Any]) -> str:
    tr = meta.get("training") or {}
    o, d = tr.get("optim") or {}, tr.get("data") or {}
    train = (meta.get("learning_curve") or {}).get("train") or []
    wall = f", {train[-1]['wall_s'] / 60:.1f} min" if train and "wall_s" in train[-1] else ""
    if tr.get("init_checkpoint"):
        start = f"the previous phase ({Path(tr['init_checkpoint']).name})"
    elif tr.get("pretrained_backbone"):
        start = f"ImageNet weights ({Path(str(tr['pretrained_backbone'])).name})"
    else:
        start = "scratch"
    budget = f" (time budget {o['time_budget_s']} s)" if o.get("time_budget_s") else ""
    val = meta.get("val_miou")
    val = (f"; val mIoU after it: GALD {_pct(val.get('gald'))}, GA probe {_pct(val.get('ga'))}, FCN probe "
           f"{_pct(val.get('fcn'))}" if val else "")
    return (f"from {start}: {tr.get('step')} steps{budget}{wall}, batch {o.get('batch_size')}, crop "
            f"{d.get('crop_size')}, lr {o.get('lr')}, warm-up {o.get('warmup_iters')}{val}")


def history_lines(meta: dict[str, Any]) -> str:
    """One line per training phase when the run started from an earlier checkpoint (`gald.export --parent`)."""
    phases = training_phases(meta)
    if len(phases) == 1:
        return ""
    lines = ["Training phases (each a new poly schedule started from the previous phase's last weights):"]
    for i, ph in enumerate(phases, 1):
        lines.append(f"{i}. {_phase(ph)}")
    return "\n".join(lines)


def scale_lines(scales: dict[str, Any] | None) -> str:
    """The train-split measurement the inference scale was chosen from (`gald/reports/inference_scale.py`)."""
    if not scales:
        return ""
    from .inference_scale import table
    return (f"Inference scale, measured on the {scales['split']} split before calibration "
            f"(`python -m gald.reports.inference_scale`, weights sha256 {scales['checkpoint_sha256'][:12]}, scales "
            f"relative to {scales['inference_scale_of_checkpoint']:g}); mIoU per head and the small classes' IoU "
            "(GALD head):\n\n" + table(scales["rows"]))


def calibration_lines(meta: dict[str, Any]) -> str:
    """The class-bias calibration (`gald.calibrate`) the checkpoint carries, if any."""
    cal = meta.get("calibration")
    if not cal:
        return ""
    lines = [f"Class-bias calibration (`gald.calibrate`, after training): one additive bias per class and head, "
             f"fitted on {cal['images']} {cal['split']} images ({cal['pixels']} pixels, every "
             f"{cal['sample_stride']}th row and column) to maximise that head's {cal['split']} mIoU, folded into "
             "the head's last 1x1 conv:", "",
             f"| head | {cal['split']} mIoU before | after | biases (abs. value >= 0.05) |", "|---|---|---|---|"]
    for head in [h for h in HEADS if h in cal["bias"]]:
        order = meta.get("class_names") or list(cal["bias"][head])  # the JSON's keys are sorted; the card is not
        biases = ", ".join(f"{k} {cal['bias'][head][k]:+.2f}" for k in order if abs(cal["bias"][head][k]) >= 0.05)
        lines.append(f"| {TITLES[head]} | {_pct(cal['miou_before'][head])} | {_pct(cal['miou_after'][head])} | "
                     f"{biases or '-'} |")
    return "\n".join(lines)


def mask_lines(mask: dict[str, Any] | None) -> str:
    if not mask:
        return ""
    c, im = mask["corr_per_image"], mask["image_mean_m"]
    return (f"- LD mask (channel mean of M, {mask['images']} {mask['split']} images, {mask['segments']} predicted "
            f"segments): image means {im['mean']:.3f} (range {im['min']:.3f}-{im['max']:.3f}); median range "
            f"within an image {mask['within_image_range_median']:.3f}\n"
            f"- correlation of a segment's mean M with log10(area): per image median {c['median']:+.2f} "
            f"(quartiles {c['p25']:+.2f} / {c['p75']:+.2f}, positive in {100 * c['positive_share']:.0f}% of "
            f"{c['images']} images), pooled {mask['corr_pooled']:+.2f}; mean M of the largest quarter of segments "
            f"{mask['mean_m_largest_quarter']:.3f} vs the smallest quarter {mask['mean_m_smallest_quarter']:.3f}")


def reach_table(reach: dict[str, Any] | None) -> str:
    if not reach:
        return ""
    lines = [f"Right half of each of {reach['images']} {reach['split']} images replaced by another image's; "
             "relative change of each feature in the left quarter (median over pixels, then images; quartiles):",
             "", "| feature | change |", "|---|---|"]
    for key, r in reach["relative_change_left_quarter"].items():
        lines.append(f"| {key} | {100 * r['median']:.2f}% ({100 * r['p25']:.2f}-{100 * r['p75']:.2f}%) |")
    sign = reach.get("cgnl_sign_only_change_of_F_GA")
    if sign:
        lines += ["", f"CGNL with its per-group statistic replaced by its sign: F_GA changes by "
                      f"{100 * sign['median']:.4f}% (median over images, max {100 * sign['max']:.4f}%)."]
    return "\n".join(lines)


def _optional_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def card(ck: Path) -> str:
    """The whole generated part of the model card, as markdown."""
    ev = json.loads(ck.with_name(ck.name + ".eval.json").read_text())
    meta = json.loads(ck.with_name(ck.name + ".json").read_text())
    parts = [recipe_lines(meta), history_lines(meta),
             scale_lines(_optional_json(ck.with_name(ck.name + ".inference_scale.json"))), calibration_lines(meta),
             f"Evaluation: {ev.get('num_images')} {ev.get('split')} images at the labels' full resolution, single "
             "scale, no flip.", per_class_table(ev), boundary_table(ev),
             curve_table(meta) or phase_curve_table(meta, ev),
             mask_lines(_optional_json(ck.with_name(ck.name + ".mask.json"))),
             reach_table(_optional_json(ck.with_name(ck.name + ".ga_reach.json")))]
    return "\n\n".join(p for p in parts if p)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="checkpoints/galdnet_lite2_camvid", type=Path)
    doc_blocks.add_arguments(ap, "docs/model_cards/<checkpoint name>.md")
    args = ap.parse_args()
    ck = args.checkpoint.with_suffix("") if args.checkpoint.suffix in (".json", ".safetensors") else args.checkpoint
    doc_blocks.emit(card(ck), args, doc_blocks.ROOT / "docs" / "model_cards" / f"{ck.name}.md",
                    __spec__.name, "--checkpoint", ck)


if __name__ == "__main__":
    main()
