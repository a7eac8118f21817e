"""Table 1 end to end on a GPU: the third protocol (after the head and the CPU end-to-end protocols), with its
data layout, loader and table.

    python -m gald.ablation.gpu_protocol --summary RETURNED/summary.json [--dest checkpoints/ablations/gpu_e2e]
    python -m gald.ablation.gpu_protocol --dest checkpoints/ablations/gpu_e2e            # the table again

Layout (what the app's Dashboard and the docs read), in DEST:
  <row>_seed<k>.json   one run each, as benchmarks/gpu_one_run.py wrote it on the device: the end-to-end
                       protocol's flat shape (miou, small_miou, large_miou, boundary_iou_5, per_class_iou,
                       mask_vs_size, ...; what gald.ablation.stats reads) plus steps, img/s, seconds and the full
                       evaluation (every head's per-class IoU)
  protocol.json        where and how: hardware, recipe (config, steps, batch, epochs), the call's plan and
                       stage times, the throughput check, the runs' exit status
`load(DEST)` returns {"protocol", "rows", "comparisons"}: rows are gald.ablation.stats.summarize's (mean ± sd
per metric over seeds); comparisons are paired deltas (percentage points, 95 % t-interval over the seeds) of
every row against FCN and of each row against the previous one in the claimed order (FCN < +GA < +LD < GALD),
with two-sided paired-t p-values corrected for the number of comparisons by Holm
(`gald.ablation.stats.holm_adjust`).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from . import stats
from .rows import ROW_ORDER

FOLDER = "gpu_e2e"  # under checkpoints/ablations/, beside head/ and e2e/
TITLE = "end-to-end protocol on a GPU (the bundled Lite2 recipe, every row trained whole, same steps per row)"
CLAIMED_ORDER = ("fcn", "ga", "ld", "gald")  # the paper's Table 1: FCN < +GA < +LD < GALD


def unpack(summary_path: Path, dest: Path) -> list[Path]:
    """Write the Table 1 runs of a returned summary.json (benchmarks/gpu_pack.py) and protocol.json into DEST."""
    summary = json.loads(summary_path.read_text())
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    runs = summary.get("results", {}).get("table1", {})
    for name, result in sorted(runs.items()):
        if result.get("status") == "done":
            path = dest / f"{name}.json"
            path.write_text(json.dumps(result, indent=1) + "\n")
            written.append(path)
    done = [r for r in runs.values() if r.get("status") == "done"]
    first = done[0] if done else {}
    plan = summary.get("plan") or {}
    protocol = {
        "title": TITLE, "hardware": first.get("hardware"), "env": summary.get("env"),
        "recipe": {"overrides_common": [o for o in first.get("overrides", [])
                                        if not o.startswith(("model.", "train.seed"))],
                   "steps": first.get("iters"), "batch": plan.get("batch"),
                   "epochs": (plan.get("table1") or {}).get("epochs"), "eval_data": (first.get("evaluation") or {})
                   .get("data"), "eval_images": first.get("num_images")},
        "plan": plan, "stages": summary.get("stages"), "throughput": summary.get("throughput"),
        "status": summary.get("status", {}).get("table1"),
        "not_done": sorted(n for n, r in runs.items() if r.get("status") != "done"),
    }
    (dest / "protocol.json").write_text(json.dumps(protocol, indent=1) + "\n")
    return [*written, dest / "protocol.json"]


def comparison_pairs(rows: list[str]) -> list[tuple[str, str]]:
    """Every row against FCN, then each row of the claimed order against the one before it."""
    pairs = [(r, "fcn") for r in rows if r != "fcn" and "fcn" in rows]
    chain = [r for r in CLAIMED_ORDER if r in rows]
    return pairs + [(b, a) for a, b in zip(chain, chain[1:], strict=False) if a != "fcn"]


def compare(runs: dict[str, dict[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    out = []
    in_order = sorted(runs, key=lambda r: (ROW_ORDER.index(r) if r in ROW_ORDER else len(ROW_ORDER), r))
    for row, base in comparison_pairs(in_order):
        d = stats.paired_delta(runs[row], runs[base])
        if d is not None:
            out.append({"row": row, "base": base, "title": f"{stats.title(row)} vs {stats.title(base)}", **d})
    tested = [c for c in out if isinstance(c.get("p"), (int, float))]
    for c, p in zip(tested, stats.holm_adjust([c["p"] for c in tested]), strict=True):
        c["p_holm"], c["family_size"] = p, len(tested)
    return out


def load(dest: Path) -> dict[str, Any]:
    """The protocol as the Dashboard shows it: provenance, per-row statistics and the corrected comparisons."""
    runs = stats.load(dest)
    protocol = json.loads((dest / "protocol.json").read_text()) if (dest / "protocol.json").is_file() else {}
    return {"protocol": protocol, "rows": stats.summarize(runs), "comparisons": compare(runs)}


def _cell(mean_sd: tuple[float | None, float | None]) -> str:
    m, s = mean_sd
    return "n/a" if m is None else f"{m:.1f}" + (f" ± {s:.1f}" if s is not None else "")


def markdown(table: dict[str, Any]) -> str:
    p = table["protocol"]
    recipe = p.get("recipe", {})
    lines = [f"{TITLE}: {recipe.get('steps')} steps of batch {recipe.get('batch')} per run "
             f"({recipe.get('epochs')} epochs), {p.get('hardware')}; evaluated on {recipe.get('eval_data')} "
             f"({recipe.get('eval_images')} images) on the device.", "",
             "| row | seeds | mIoU | small-class IoU | large-class IoU | boundary IoU @5px |",
             "|---|---|---|---|---|---|"]
    for r in table["rows"]:
        lines.append(f"| {r['title']} | {len(r['seeds'])} | " + " | ".join(_cell(r["stats"][k]) for k in stats.METRICS)
                     + " |")
    family = next((c["family_size"] for c in table["comparisons"] if "family_size" in c), 0)
    lines += ["", f"| comparison | pairs | Δ mIoU [95 % CI] | p | Holm p ({family} comparisons) |",
              "|---|---|---|---|---|"]
    for c in table["comparisons"]:
        ci = f" [{c['low']:+.1f}, {c['high']:+.1f}]" if "low" in c else f" ({c.get('positive')}/{c['n']} > 0)"
        raw = f"{c['p']:.3f}" if isinstance(c.get("p"), float) and math.isfinite(c["p"]) else "n/a"
        holm = f"{c['p_holm']:.3f}" + (" *" if c["p_holm"] < 0.05 else "") if "p_holm" in c else "n/a"
        lines.append(f"| {c['title']} | {c['n']} | {c['mean']:+.1f}{ci} | {raw} | {holm} |")
    lines.append("\n`*`: Holm-corrected p < 0.05 (family-wise error 5 %).")
    if p.get("not_done"):
        lines.append(f"Runs not finished in the call (left out): {', '.join(p['not_done'])}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gald.ablation.gpu_protocol", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--summary", type=Path, help="summary.json returned by the call (unpacked into --dest first)")
    ap.add_argument("--dest", type=Path, default=Path("checkpoints/ablations") / FOLDER)
    ap.add_argument("--json", type=Path, help="also write load()'s result here")
    args = ap.parse_args(argv)
    if args.summary:
        for path in unpack(args.summary, args.dest):
            print(f"wrote {path}")
    table = load(args.dest)
    if not table["rows"]:
        print(f"no runs in {args.dest}")
        return 1
    print(markdown(table))
    if args.json:
        args.json.write_text(json.dumps(table, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
