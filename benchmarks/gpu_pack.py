"""Pack what a lent-GPU call (benchmarks/gpu_run.sh) sends back: at most 8 files of at most 16 MiB under $OUT.

    python -m benchmarks.gpu_pack --runs RUNS --out OUT [--export RUNS/export]

  summary.json   everything to read: the plan, the throughput check, the environment, the stage times, every
                 run's result JSON (Table 1 rows and main runs, in the end-to-end protocol's shape), the runs'
                 exit status, `pytest -m gpu`'s result and the GPU's utilisation per stage (nvidia-smi samples)
  logs.tar.gz    every run's log.jsonl, config.json and console, pytest's output, the utilisation samples
  <main>.safetensors / <main>.json   each main run's last weights (fp16) and metadata, split into parts of
                 at most 16 MiB if larger (`cat x.safetensors.part-* > x.safetensors`)

The Table 1 results and everything else that can be read comes back even when a main run failed; the count
and sizes are checked before the call ends (a file that would not come back is an error printed here).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import tarfile
from pathlib import Path
from typing import Any

MAX_FILES, MAX_BYTES = 8, 16 * 2**20


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        return {"unreadable": f"{path.name}: {exc}"}


def stage_times(path: Path) -> list[dict[str, Any]]:
    """`stages.log` lines `<epoch seconds> start|end <stage> [exit code]` -> [{stage, start, end, exit}]."""
    stages: dict[str, dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3:
                entry = stages.setdefault(parts[2], {"stage": parts[2]})
                entry[parts[1]] = float(parts[0])
                if parts[1] == "end" and len(parts) > 3:
                    entry["exit"] = int(parts[3])
    for s in stages.values():
        if "start" in s and "end" in s:
            s["seconds"] = round(s["end"] - s["start"], 1)
    return list(stages.values())


def utilisation(path: Path, stages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Mean GPU utilisation and peak memory per stage from `nvidia-smi --query-gpu=timestamp,utilization.gpu,
    memory.used --format=csv,noheader,nounits -lms 500` samples (the timestamp column is replaced by epoch
    seconds by the script: `util.csv` rows are `epoch, util %, MiB`)."""
    if not path.is_file():
        return None
    rows = []
    for r in csv.reader(path.read_text().splitlines()):
        try:
            rows.append((float(r[0]), float(r[1]), float(r[2])))
        except (ValueError, IndexError):
            continue
    out = {}
    for s in stages:
        inside = [r for r in rows if s.get("start", 0) <= r[0] <= s.get("end", 0)]
        if inside:
            out[s["stage"]] = {"busy": round(statistics.mean(r[1] for r in inside) / 100, 3),
                               "peak_mem_mib": max(r[2] for r in inside), "samples": len(inside)}
    return out


def summary(runs: Path, results: list[Path]) -> dict[str, Any]:
    stages = stage_times(runs / "stages.log")
    out: dict[str, Any] = {
        "plan": read_json(runs / "plan.json") if (runs / "plan.json").is_file() else None,
        "throughput": read_json(runs / "throughput.json") if (runs / "throughput.json").is_file() else None,
        "env": (runs / "env.txt").read_text() if (runs / "env.txt").is_file() else None,
        "stages": stages, "gpu_utilisation": utilisation(runs / "util.csv", stages), "results": {}, "status": {}}
    for folder in results:
        name = folder.name
        out["results"][name] = {p.stem: read_json(p) for p in sorted(folder.glob("*.json"))
                                if p.name != "runs_status.json"}
        if (folder / "runs_status.json").is_file():
            out["status"][name] = read_json(folder / "runs_status.json")
    pytest_out = runs / "pytest_gpu.txt"
    if pytest_out.is_file():
        lines = pytest_out.read_text().splitlines()
        out["pytest_gpu"] = {"tail": lines[-15:], "exit": next((s.get("exit") for s in stages
                                                                if s["stage"] == "pytest"), None)}
    return out


def pack(runs: Path, out: Path, results: list[Path], export: Path | None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "summary.json"]
    written[0].write_text(json.dumps(summary(runs, results), indent=1) + "\n")
    logs = out / "logs.tar.gz"
    with tarfile.open(logs, "w:gz") as tar:
        for pattern in ("*.txt", "*.log", "*.csv", "*.json", "*.console", "*/*.console", "*/log.jsonl",
                        "*/config.json", "*/*/log.jsonl", "*/*/config.json"):
            for f in sorted(runs.glob(pattern)):
                if f.is_file() and f.stat().st_size < MAX_BYTES:
                    tar.add(f, arcname=str(f.relative_to(runs)))
    written.append(logs)
    for f in sorted(export.glob("*")) if export and export.is_dir() else []:
        data = f.read_bytes()
        if len(data) <= MAX_BYTES:
            (out / f.name).write_bytes(data)
            written.append(out / f.name)
            continue
        for i in range(0, len(data), MAX_BYTES):
            part = out / f"{f.name}.part-{i // MAX_BYTES:02d}"
            part.write_bytes(data[i:i + MAX_BYTES])
            written.append(part)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=Path, required=True, help="the call's working folder (RUNS in gpu_run.sh)")
    ap.add_argument("--out", type=Path, required=True, help="$OUT")
    ap.add_argument("--results", type=Path, nargs="+", default=[], help="folders of result JSONs (table1, main)")
    ap.add_argument("--export", type=Path, help="exported main-run weights")
    args = ap.parse_args(argv)
    written = pack(args.runs, args.out, args.results, args.export)
    for f in written:
        print(f"{f.stat().st_size / 2**20:8.2f} MiB  {f.name}")
    problems = [f"{len(written)} files (at most {MAX_FILES} come back)"] if len(written) > MAX_FILES else []
    problems += [f"{f.name} is over 16 MiB" for f in written if f.stat().st_size > MAX_BYTES]
    for p in problems:
        print(f"error: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
