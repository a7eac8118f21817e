"""The *end-to-end protocol* for Table 1 ablations: the whole model fine-tuned per row and seed.

    python -m gald.ablation.end_to_end --config configs/camvid_e2e_protocol.yaml --runs /work/runs/e2e \
        --out checkpoints/ablations/e2e [--rows fcn ga ld gald] [--seeds 0 1 2] [--set KEY=VALUE ...]

Each row x seed is one `gald.train` run of the same config (backbone, data, recipe, budget) with only the
row's model overrides (`gald.ablation.rows.ROWS`) and `train.seed` changed, then `gald.evaluate` of its
*last* weights (no selection on val) at the labels' full resolution. The result goes to
`OUT/<row>_seed<k>.json` in the head protocol's flat shape (main head: mIoU, small / large-class IoU,
boundary IoU at 5 px) plus the full evaluation under `evaluation`; `python -m gald.reports.head_protocol_table
--dir OUT` prints the statistics. Rows whose JSON exists are skipped and an interrupted run resumes from its
newest snapshot in `RUNS/<row>_seed<k>`, so the protocol can span sessions.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from .. import evaluate, train
from ..io.checkpoint import atomic_write_bytes
from .rows import CORE_ROWS, ROWS, config_overrides


def flatten(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The main head's figures in the head protocol's shape (what gald.ablation.stats reads)."""
    heads = evaluation["heads"]
    main = "gald" if "gald" in heads else next(iter(heads))
    h = heads[main]
    return {"miou": h["miou"], "pixel_accuracy": h.get("pixel_accuracy"), "per_class_iou": h.get("per_class_iou"),
            "small_miou": h.get("small_miou"), "large_miou": h.get("large_miou"),
            "boundary_iou_5": evaluation.get("boundary_iou", {}).get(main, {}).get("5"),
            "num_images": evaluation.get("num_images")}


def run_row(row: str, seed: int, *, config: str, runs: Path, out: Path, data: str, overrides: list[str]) -> dict:
    target = out / f"{row}_seed{seed}.json"
    run_dir = runs / f"{row}_seed{seed}"
    resume = ["--resume"] if any(run_dir.glob("snapshot-*")) else []
    t0 = time.perf_counter()
    args = ["--config", config, "--out", str(run_dir), "--no-progress", *resume,
            *[a for o in [*config_overrides(row), f"train.seed={seed}", *overrides] for a in ("--set", o)]]
    if train.main(args) != 0:
        raise SystemExit(f"training {row} seed {seed} failed (run directory {run_dir})")
    train_s = time.perf_counter() - t0
    eval_path = run_dir / "last.eval.json"
    if evaluate.main(["--checkpoint", str(run_dir / "last"), "--data", data, "--split", "val",
                      "--json", str(eval_path), "--no-progress"]) != 0:
        raise SystemExit(f"evaluating {row} seed {seed} failed ({run_dir / 'last'})")
    evaluation = json.loads(eval_path.read_text())
    training = evaluation.get("training", {})
    result = {**flatten(evaluation), "row": row, "seed": seed, "iters": training.get("optim", {}).get("iters"),
              "train_seconds": round(train_s, 1), "config": ROWS[row].model, "protocol": "end_to_end",
              "evaluation": evaluation}
    atomic_write_bytes(target, (json.dumps(result, indent=1) + "\n").encode())  # a half-written JSON would be skipped
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gald.ablation.end_to_end", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/camvid_e2e_protocol.yaml")
    p.add_argument("--runs", type=Path, required=True, help="run directories (keep them outside the work tree)")
    p.add_argument("--out", type=Path, default=Path("checkpoints/ablations/e2e"))
    p.add_argument("--data", default="camvid:../shared/data/camvid", help="evaluation data (val split)")
    p.add_argument("--rows", nargs="+", default=list(CORE_ROWS), choices=list(ROWS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="extra config overrides for every run (e.g. optim.iters=240)")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    args.runs.mkdir(parents=True, exist_ok=True)
    # seed-major order: after an interruption every row has the same number of seeds (paired deltas)
    for seed in args.seeds:
        for row in args.rows:
            if (args.out / f"{row}_seed{seed}.json").is_file():
                print(f"{row} seed {seed}: done (JSON exists), skipped", flush=True)
                continue
            r = run_row(row, seed, config=args.config, runs=args.runs, out=args.out, data=args.data,
                        overrides=args.overrides)
            print(f"{row} seed {seed}: val mIoU {100 * r['miou']:.1f} ({r['train_seconds']:.0f} s training)",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
