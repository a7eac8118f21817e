"""The GPU pilot: three GALDNets trained side by side on one lent H200 for the same wall-clock budget, and the
continuation of the best one alone (benchmarks/gpu_train.sh, benchmarks/gpu_continue.sh).

    .venv/bin/python -m benchmarks.gpu_pilot [--dir benchmarks/gpu_runs] [--out benchmarks/gpu_pilot.png]

Reads each run's `log.jsonl` (as the trainer wrote it on the GPU) and the `.eval.json` that
`gald.evaluate` wrote here for its last weights on CamVid val (the original PNGs, full resolution). The runs
had no validation during training (the device carried no val set), so each curve is the training loss
against wall time and the val mIoU is one point at the end of each run. Prints a markdown table; writes a PNG.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from gald.reports.training_phases import learning_curve

# run name -> (label, the run it continued or None)
RUNS = {
    "r18": ("ResNet-18, scratch, OS8", None),
    "lite0": ("EfficientNet-Lite0, ImageNet, OS16", None),
    "lite2": ("EfficientNet-Lite2, ImageNet, OS16", None),
    "lite2_continued": ("EfficientNet-Lite2, phase 2 (alone on the GPU)", "lite2"),
}


def run_summary(log_path: Path, eval_path: Path, batch: int = 16) -> dict[str, Any]:
    records = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    curve = learning_curve(log_path)["train"]
    budget = [r for r in records if r.get("event") == "budget"]
    train = [r for r in records if r.get("event") == "train"]
    ev = json.loads(eval_path.read_text()) if eval_path.is_file() else None
    wall = curve[-1]["wall_s"] if curve else 0.0
    if budget and train:  # the budget records say when training started (before the first logged step)
        start = budget[0]["time"] - budget[0]["elapsed_s"]
        lead = train[0]["time"] - start - curve[0]["wall_s"]
        curve = [{**r, "wall_s": r["wall_s"] + lead} for r in curve]
        wall = train[-1]["time"] - start
    return {"curve": curve, "steps": train[-1]["step"] if train else 0, "wall_s": wall,
            "img_s": train[-1]["step"] * batch / wall if train and wall else 0.0,
            "budget_s": budget[-1]["budget_s"] if budget else None,
            "final_loss": sum(r["total"] for r in train[-10:]) / max(len(train[-10:]), 1),
            "val": {h: r["miou"] for h, r in ev["heads"].items()} if ev else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, default=Path("benchmarks/gpu_runs"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/gpu_pilot.png"))
    ap.add_argument("--batch", type=int, default=16, help="the runs' batch size, for img/s (the logs do not "
                    "record it; all four runs used configs/*_gpu.yaml's 16)")
    args = ap.parse_args()
    summaries = {name: run_summary(args.dir / f"{name}.log.jsonl", args.dir / f"{name}.eval.json", args.batch)
                 for name in RUNS if (args.dir / f"{name}.log.jsonl").is_file()}

    print(f"| run | steps (batch {args.batch}) | wall time | img/s | train loss (last 100 steps) | val mIoU GALD | "
          "GA probe | FCN probe |")
    print("|---|---|---|---|---|---|---|---|")
    for name, s in summaries.items():
        v = s["val"] or {}
        pct = {h: f"{100 * v[h]:.1f}" if h in v else "n/a" for h in ("gald", "ga", "fcn")}
        print(f"| {RUNS[name][0]} | {s['steps']} | {s['wall_s'] / 60:.1f} min | {s['img_s']:.0f} | "
              f"{s['final_loss']:.3f} | {pct['gald']} | {pct['ga']} | {pct['fcn']} |")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=120)
    offsets: dict[str, float] = {}
    for name, s in summaries.items():
        label, parent = RUNS[name]
        offset = summaries[parent]["wall_s"] if parent in summaries else 0.0
        offsets[name] = offset
        minutes = [(offset + r["wall_s"]) / 60 for r in s["curve"]]
        line, = ax_loss.plot(minutes, [r["loss"] for r in s["curve"]], lw=0.8, label=label)
        if s["val"]:
            ax_val.plot([(offset + s["wall_s"]) / 60], [100 * s["val"]["gald"]], "o", color=line.get_color(),
                        label=label)
            if parent in summaries and summaries[parent]["val"]:
                ax_val.plot([offsets[parent] / 60 + summaries[parent]["wall_s"] / 60, (offset + s["wall_s"]) / 60],
                            [100 * summaries[parent]["val"]["gald"], 100 * s["val"]["gald"]], ":",
                            color=line.get_color())
    ax_loss.set_xlabel("wall time on the GPU (min)")
    ax_loss.set_ylabel("training loss (OHEM + aux + probes)")
    ax_loss.set_ylim(top=4)
    ax_loss.grid(alpha=0.3)
    ax_loss.legend(fontsize=7)
    ax_val.set_xlabel("wall time on the GPU (min)")
    ax_val.set_ylabel("GALD head val mIoU (%), last weights")
    ax_val.grid(alpha=0.3)
    ax_val.legend(fontsize=7, loc="lower right")
    fig.suptitle("GPU pilot: three runs sharing one H200 for the same wall time, then Lite2 continued alone")
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
