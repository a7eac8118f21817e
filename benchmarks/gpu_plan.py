"""The time plan of one lent-GPU call (benchmarks/gpu_run.sh): how long each stage may take, how many steps
each Table 1 run gets, how long the main model trains. Printed before the stages start; the script stops
each stage at its budget (`timeout`, and the runner's per-run deadline).

    python -m benchmarks.gpu_plan --call-s 540 --elapsed-s 28 --throughput RUNS/throughput.json \
        --runs 12 --main-runs 1 --data .gpu/camvid --json RUNS/plan.json --env RUNS/plan.env

Table 1's runs all get the same number of steps (a paired comparison needs the same budget for every row),
fitted to the stage: `margin` x measured img/s x training seconds / (runs x batch). The measured rate is the
Lite2 GALD step with the data on the device, batch `--batch`, from the throughput check (one process alone
on the GPU; the runs share it, so the sum of their rates is taken to be about that). Without a measurement
(the check failed or ran out of time) the GPU pilot's 135 img/s is used, which under-fills the stage rather
than overrunning it. Runs go in waves when `runs` copies of the measured peak memory (+1.5 GiB each for
the CUDA context) would not fit in 85 % of the GPU's memory.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

PILOT_IMG_S = 135.0  # Lite2 alone on the H200 with the CPU loader (benchmarks/RESULTS.md, GPU pilot)
CONTEXT_GIB = 1.5


def measured(throughput: Path | None, model: str, batch: int) -> dict[str, Any] | None:
    """The throughput check's result for `model` at `batch` with the data on the device, if it ran."""
    if throughput is None or not throughput.is_file():
        return None
    report = json.loads(throughput.read_text())
    hits = [r for r in report.get("results", []) if r.get("model") == model and r.get("batch") == batch
            and r.get("pipeline") == "device" and not r.get("compile") and "img_s" in r]
    return {**hits[0], "gpu_mem_gib": report.get("machine", {}).get("gpu_mem_gib")} if hits else None


def bundled_images(checkpoint: Path) -> int | None:
    """Images the bundled model was trained on, over all its phases (steps x batch of each)."""
    meta_path = checkpoint.with_suffix(".json") if checkpoint.suffix != ".json" else checkpoint
    if not meta_path.is_file():
        return None
    from gald.reports.training_phases import training_phases

    phases = training_phases(json.loads(meta_path.read_text()))
    return sum(int(p["training"]["step"]) * int(p["training"]["optim"]["batch_size"]) for p in phases
               if isinstance(p.get("training"), dict) and "step" in p["training"])


def make_plan(a: argparse.Namespace) -> dict[str, Any]:
    m = measured(a.throughput, a.model, a.batch)
    rate = m["img_s"] if m else PILOT_IMG_S
    gpu_mem = (m or {}).get("gpu_mem_gib")
    peak = (m or {}).get("peak_mem_gib")
    parallel = a.runs
    if gpu_mem and peak:
        parallel = max(1, min(a.runs, int(0.85 * gpu_mem // (peak + CONTEXT_GIB))))
    waves = math.ceil(a.runs / parallel)
    left = a.call_s - a.elapsed_s - a.pytest_s - a.pack_s
    t1_s = int(left * (a.table1_share if a.main_runs else 1.0)) if a.runs else 0  # alone: all of it
    main_s = int(left - t1_s) if a.main_runs else 0
    t1_train = max(t1_s - waves * (a.startup_s + a.eval_s), 0)
    iters = min(max(a.min_iters, int(a.margin * rate * t1_train / max(a.runs * a.batch, 1))), a.max_iters)
    main_train = min(max(main_s - a.startup_s - a.eval_s - a.export_s, a.min_budget_s), a.max_budget_s)
    n_train = len([p for p in (a.data / "train").iterdir() if p.is_file()]) if a.data else None
    bundled = bundled_images(a.bundled) if a.bundled else None
    return {
        "call_s": a.call_s, "elapsed_s": a.elapsed_s, "rate_img_s": rate, "rate_source": "measured" if m else
        f"no measurement: the GPU pilot's {PILOT_IMG_S:g} img/s", "batch": a.batch, "train_images": n_train,
        "table1": {"runs": a.runs, "parallel": parallel, "waves": waves, "stage_s": t1_s, "iters": iters,
                   "deadline_s": max(t1_s // waves - 5, 1), "train_s_planned": t1_train,
                   "epochs": round(iters * a.batch / n_train, 1) if n_train else None},
        "main": {"runs": a.main_runs, "stage_s": main_s, "budget_s": main_train, "deadline_s": max(main_s - 5, 1),
                 "images_expected": int(rate * main_train / max(a.main_runs, 1)),
                 "epochs_expected": round(rate * main_train / max(a.main_runs, 1) / n_train, 1) if n_train else None},
        "pytest_s": a.pytest_s, "pack_s": a.pack_s,
        "bundled_model": {"images": bundled, "epochs": round(bundled / n_train, 1) if bundled and n_train else None},
    }


def describe(p: dict[str, Any]) -> str:
    t, mn, b = p["table1"], p["main"], p["bundled_model"]
    lines = [f"plan for a {p['call_s']} s call ({p['elapsed_s']} s spent on the environment and the throughput "
             f"check); rate {p['rate_img_s']:.0f} img/s ({p['rate_source']})",
             f"  {'stage':<26}{'budget':>8}  what"]
    if t["runs"]:
        lines.append(f"  {'Table 1, end to end':<26}{t['stage_s']:>6} s  {t['runs']} runs, {t['parallel']} at a time "
                     f"({t['waves']} wave(s)), {t['iters']} steps of batch {p['batch']} each = {t['epochs']} epochs "
                     f"(the bundled model: {b['epochs']}); each run stopped {t['deadline_s']} s after its start")
    if mn["runs"]:
        lines.append(f"  {'main model':<26}{mn['stage_s']:>6} s  {mn['runs']} run(s), training budget "
                     f"{mn['budget_s']} s each, ~{mn['images_expected']} images = {mn['epochs_expected']} epochs "
                     "at the rate above")
    lines.append(f"  {'pytest -m gpu':<26}{p['pytest_s']:>6} s")
    lines.append(f"  {'pack results':<26}{p['pack_s']:>6} s")
    total = p["elapsed_s"] + t["stage_s"] + mn["stage_s"] + p["pytest_s"] + p["pack_s"]
    lines.append(f"  {'total':<26}{total:>6} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--call-s", type=int, default=540, help="the whole call's command time")
    ap.add_argument("--elapsed-s", type=int, default=0, help="already spent (environment, throughput check)")
    ap.add_argument("--throughput", type=Path, help="benchmarks.gpu_throughput's JSON")
    ap.add_argument("--model", default="lite2", help="the throughput setting Table 1 is sized by")
    ap.add_argument("--batch", type=int, default=16, help="the runs' batch size (the recipe's)")
    ap.add_argument("--rows", nargs="*", default=["fcn", "ga", "ld", "gald"], help="Table 1 rows")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--mains", nargs="*", default=["lite2_zoom15"], help="main runs (gpu_runs.MAIN_RUNS names)")
    ap.add_argument("--table1-share", type=float, default=0.55, help="share of the training time for Table 1")
    ap.add_argument("--startup-s", type=int, default=45, help="per run: imports, data, cuDNN autotuning")
    ap.add_argument("--eval-s", type=int, default=30, help="per run: evaluation on the device")
    ap.add_argument("--export-s", type=int, default=10)
    ap.add_argument("--pytest-s", type=int, default=45)
    ap.add_argument("--pack-s", type=int, default=20)
    ap.add_argument("--margin", type=float, default=0.85, help="share of the measured rate Table 1 plans on")
    ap.add_argument("--min-iters", type=int, default=1)
    ap.add_argument("--min-budget-s", type=int, default=1)
    # caps, for the CPU rehearsal: a generous call time (stages never cut on a busy CPU) with tiny runs
    ap.add_argument("--max-iters", type=int, default=10**9)
    ap.add_argument("--max-budget-s", type=int, default=10**9)
    ap.add_argument("--data", type=Path, help="the carried CamVid folder (counts the train images)")
    ap.add_argument("--bundled", type=Path, default=Path("checkpoints/galdnet_lite2_camvid.json"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--env", type=Path, help="write the numbers the script needs as shell assignments")
    args = ap.parse_args(argv)
    # a typo in a row or run name must stop the call here, before any GPU time is spent on it
    from benchmarks.gpu_runs import MAIN_RUNS
    from gald.ablation.rows import ROWS

    unknown = [r for r in args.rows if r not in ROWS] + [m for m in args.mains if m not in MAIN_RUNS]
    if unknown:
        ap.error(f"unknown rows / main runs {unknown}; rows: {sorted(ROWS)}, main runs: {sorted(MAIN_RUNS)}")
    args.runs, args.main_runs = len(args.rows) * len(args.seeds), len(args.mains)
    plan = make_plan(args)
    plan["table1"]["rows"], plan["table1"]["seeds"], plan["main"]["names"] = args.rows, args.seeds, args.mains
    print(describe(plan), flush=True)
    if args.json:
        args.json.write_text(json.dumps(plan, indent=1) + "\n")
    if args.env:
        t, mn = plan["table1"], plan["main"]
        args.env.write_text(f"T1_S={t['stage_s']}\nT1_ITERS={t['iters']}\nT1_PARALLEL={t['parallel']}\n"
                            f"T1_DEADLINE_S={t['deadline_s']}\nMAIN_S={mn['stage_s']}\nMAIN_BUDGET_S={mn['budget_s']}\n"
                            f"MAIN_DEADLINE_S={mn['deadline_s']}\n")
    return plan


if __name__ == "__main__":
    main()
