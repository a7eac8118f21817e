"""Several training runs at once on one GPU, each evaluated on the device at its end, each writing one JSON.

    python -m benchmarks.gpu_runs --rows fcn ga ld gald --seeds 0 1 2 --config CFG --val SPEC \
        --runs DIR --out DIR --deadline-s 250 [--parallel K] [--set KEY=VALUE ...]      # Table 1, end to end
    python -m benchmarks.gpu_runs --main lite2_zoom15 --config CFG --val SPEC --runs DIR --out DIR \
        --deadline-s 200 --export DIR [--set ...]                                        # the main model

A run is one `gald.train` of CONFIG with the row's model overrides (`gald.ablation.rows.ROWS`, as the CPU
end-to-end protocol) or a main run's overrides (`MAIN_RUNS`), its own `train.seed`, the same data and budget
for every run, then an evaluation of its last weights on the device (benchmarks/gpu_one_run.py, one process
per run). The result goes to `OUT/<row>_seed<k>.json` (main runs: `OUT/<name>.json`). This parent starts
every run as a process (all at once, or `--parallel` at a time), gives each `--deadline-s` from its own start,
then stops the ones still running (SIGTERM: the trainer saves a snapshot and exits; such a run is reported
as stopped, not evaluated) and writes `OUT/runs_status.json`. It imports no torch: on the CPU rehearsal its
start-up would cost as much as a run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

# main runs: name -> overrides on top of the config (the Lite2 recipe); {init} is the checkpoint to continue.
# zoom15 trains at the zoom the bundled model runs at (input scale 1.5: the recipe's scale range times 1.5)
MAIN_RUNS: dict[str, list[str]] = {
    "lite2_zoom15": ["init_checkpoint={init}", "pretrained_backbone=null", "data.scale_range=[0.75,3.0]",
                     "data.input_scale=1.5", "optim.lr=0.01", "optim.warmup_iters=50"],
    "lite2_zoom1": ["init_checkpoint={init}", "pretrained_backbone=null", "optim.lr=0.01", "optim.warmup_iters=50"],
    "lite2_imagenet": [],  # the recipe as it is: ImageNet trunk (needs the trunk weights carried)
}


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def plan_runs(args: argparse.Namespace) -> list[tuple[list[str], str]]:
    """(arguments of `one`, run name) for every run of `many`, seed-major (a cut-short call keeps whole seeds)."""
    if args.main:
        return [(["--main", m], m) for m in args.main]
    return [(["--row", r, "--seed", str(s)], f"{r}_seed{s}") for s in args.seeds for r in args.rows]


def run_many(args: argparse.Namespace, common: list[str]) -> int:
    t0, queue, running, status = time.time(), plan_runs(args), {}, {}
    args.out.mkdir(parents=True, exist_ok=True)
    args.runs.mkdir(parents=True, exist_ok=True)
    parallel = args.parallel or len(queue)
    threads = str(max(1, (os.cpu_count() or 2) // min(parallel, len(queue))))
    env = {**os.environ, "OMP_NUM_THREADS": threads, "PYTHONUNBUFFERED": "1"}

    def stop_all(signum, _frame):  # the stage's own timeout: stop the runs too, never leave them orphaned
        for proc, _console, _started in running.values():
            proc.send_signal(signal.SIGTERM)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop_all)
    while queue or running:
        while queue and len(running) < parallel:
            one, name = queue.pop(0)
            console = open(args.runs / f"{name}.console", "w")  # noqa: SIM115 (closed when the run ends)
            proc = subprocess.Popen([sys.executable, "-m", "benchmarks.gpu_one_run", *one, *common],
                                    stdout=console, stderr=subprocess.STDOUT, env=env)
            running[name] = (proc, console, time.time())
        for name, (proc, console, started) in list(running.items()):
            if proc.poll() is None and time.time() - started > args.deadline_s:
                proc.send_signal(signal.SIGTERM)  # the trainer finishes its step, saves a snapshot, exits 130
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.poll() is not None:
                console.close()
                status[name] = {"exit": proc.returncode, "seconds": round(time.time() - started, 1)}
                del running[name]
        time.sleep(0.5)
    write_atomic(args.out / "runs_status.json", json.dumps({"runs": status, "wall_s": round(time.time() - t0, 1)},
                                                           indent=1) + "\n")
    for name, s in status.items():
        print(f"{name}: exit {s['exit']} after {s['seconds']:.0f} s", flush=True)
    return 0 if all(s["exit"] == 0 for s in status.values()) else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--rows", nargs="+", help="Table 1 rows (gald.ablation.rows.ROWS keys)")
    which.add_argument("--main", nargs="+", choices=list(MAIN_RUNS), help="main model run(s)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--config", required=True)
    ap.add_argument("--val", required=True, help="val data spec, evaluated on the device at the end of each run")
    ap.add_argument("--eval-limit", type=int, help="evaluate only the first N val images (rehearsal)")
    ap.add_argument("--runs", type=Path, required=True, help="run directories")
    ap.add_argument("--out", type=Path, required=True, help="result JSONs")
    ap.add_argument("--init", default="checkpoints/galdnet_lite2_camvid", help="the checkpoint main runs continue")
    ap.add_argument("--export", type=Path, help="also export each run's last weights here (fp16)")
    ap.add_argument("--deadline-s", type=float, default=1e9, help="stop a run this long after its start")
    ap.add_argument("--parallel", type=int, help="runs at a time (default: all)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="config override for every run (data, budget, rehearsal settings)")
    args = ap.parse_args(argv)
    common = ["--config", args.config, "--val", args.val, "--runs", str(args.runs), "--out", str(args.out),
              "--init", args.init, *(["--eval-limit", str(args.eval_limit)] if args.eval_limit else []),
              *(["--export", str(args.export)] if args.export else []),
              *[a for o in args.overrides for a in ("--set", o)]]
    return run_many(args, common)


if __name__ == "__main__":
    raise SystemExit(main())
