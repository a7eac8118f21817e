"""Training: kill -9 and --resume reproduce the uninterrupted run; a NaN loss stops cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

from .common import PYTHON, REPO, TRACEBACK, Result, short
from .data import make_camvid, subprocess_env, train_args


def _latest_step(run: Path) -> int:
    steps = [int(p.name.split("-")[1]) for p in run.glob("snapshot-*") if (p / "state.json").is_file()]
    return max(steps, default=0)


def _load_state(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(path))


def _checkpoints_loadable(run: Path) -> tuple[bool, str]:
    import gald

    notes = []
    for name in ("best", "last"):
        if (run / f"{name}.json").exists() or (run / f"{name}.safetensors").exists():
            try:
                gald.load_checkpoint(run / name)
                notes.append(f"{name} ok")
            except Exception as exc:
                return False, f"{name} BROKEN: {short(str(exc), 80)}"
    return True, ", ".join(notes) or "none yet"


def crash_resume(workdir: Path, *, iters: int = 8, kills: int = 3, seed: int = 0, batch: int = 4
                 ) -> tuple[list[Result], dict]:
    """Reference run vs. a run killed with SIGKILL at `kills` random moments (seeded) and resumed each time."""
    import torch

    rng = np.random.default_rng(seed)
    data = make_camvid(workdir / "camvid", seed=seed)
    env = subprocess_env()
    results: list[Result] = []
    # reference: uninterrupted
    ref = workdir / "run_ref"
    t0 = time.perf_counter()
    proc = subprocess.run([PYTHON, "-m", "gald.train", *train_args(data, ref, iters, batch=batch)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    ref_seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        results.append(Result("training", "reference run", f"{iters} steps", f"exit {proc.returncode}: "
                              f"{short(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else '')}", False))
        return results, {}
    times = [r["time"] for r in map(json.loads, (ref / "log.jsonl").read_text().splitlines())
             if r.get("event") == "train"]
    step_seconds = float(np.median(np.diff(times))) if len(times) > 2 else ref_seconds / iters
    # one kill point per stretch of the run (seeded), each `frac` of a step after a snapshot appeared
    chunks = np.array_split(np.arange(1, iters), min(kills, iters - 1))
    targets = [int(rng.choice(c)) for c in chunks]
    delays = rng.uniform(0.0, 0.9, size=len(targets)).tolist()
    run = workdir / "run_killed"
    kill_log: list[dict[str, Any]] = []
    for i, (target, frac) in enumerate(zip(targets, delays, strict=True)):
        args = train_args(data, run, iters, batch=batch) + (["--resume"] if i else [])
        err_path = workdir / f"killed_{i + 1}.stderr"
        with open(err_path, "w") as err:  # a file, not a pipe: a full pipe would stall the trainer
            proc = subprocess.Popen([PYTHON, "-m", "gald.train", *args], cwd=REPO, env=env,
                                    stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.time() + 600
        target = min(max(target, _latest_step(run) + 1), iters - 1)  # each segment makes progress first
        while _latest_step(run) < target and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(frac * step_seconds)  # somewhere inside the next step / snapshot / validation
        finished = proc.poll() is not None
        if not finished:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        stderr = err_path.read_text()
        loadable, note = _checkpoints_loadable(run)
        tmp_left = sorted(p.name for p in run.iterdir() if p.name.endswith(".tmp") or ".tmp" in p.name)
        kill_log.append({"kill": i + 1, "after_snapshot": target, "delay_steps": round(frac, 2),
                         "snapshot_at_kill": _latest_step(run), "finished_before_kill": finished,
                         "checkpoints": note, "temp_files_left": tmp_left})
        results.append(Result("training", f"kill -9 #{i + 1} (after step {target} + {frac:.2f} step)",
                              "best/last load", f"snapshot {_latest_step(run)}; {note}"
                              + (f"; {len(tmp_left)} temp file(s) left" if tmp_left else "")
                              + ("; finished before the kill (no kill)" if finished else ""),
                              loadable and not finished))
        if finished and proc.returncode != 0:
            results[-1].observed += f" [exit {proc.returncode}: {short(stderr.strip()[-200:])}]"
    t0 = time.perf_counter()
    proc = subprocess.run([PYTHON, "-m", "gald.train", *train_args(data, run, iters, batch=batch), "--resume"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    final_ok = proc.returncode == 0
    final_step = json.loads((run / "last.json").read_text())["training"]["step"] if (run / "last.json").exists() else -1
    a, b = _load_state(ref / "last.safetensors"), _load_state(run / "last.safetensors") if final_ok else {}
    same_keys = a.keys() == b.keys()
    unequal = [k for k in a if k in b and not torch.equal(a[k], b[k])]
    max_diff = max((float((a[k].float() - b[k].float()).abs().max()) for k in unequal), default=0.0)
    results.append(Result("training", "final resume", f"exit 0 at step {iters}",
                          f"exit {proc.returncode}, step {final_step}", final_ok and final_step == iters,
                          time.perf_counter() - t0))
    results.append(Result("training", f"weights vs uninterrupted run ({len(a)} tensors)", "torch.equal on every tensor",
                          ("all equal" if same_keys and not unequal else
                           f"{len(unequal)} differ (max |diff| {max_diff:.2e})" if same_keys else "different keys"),
                          final_ok and same_keys and not unequal))
    ref_log = [json.loads(x) for x in (ref / "log.jsonl").read_text().splitlines()]
    run_log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    ref_best = max((r["gald_miou"] for r in ref_log if r.get("event") == "val"), default=None)
    run_best = json.loads((run / "best.json").read_text())["metrics"]["val"]["gald"]["miou"] if (
        run / "best.json").exists() else None
    results.append(Result("training", "best checkpoint vs uninterrupted run", "same best val mIoU",
                          f"{run_best} vs {ref_best}", run_best is not None and run_best == ref_best))
    figures = {"iters": iters, "reference_seconds": round(ref_seconds, 1), "kills": kill_log,
               "resumes": sum(1 for r in run_log if r.get("event") == "resume")}
    return results, figures


def _val_steps(run: Path) -> list[int]:
    log = run / "log.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    return [r["step"] for r in map(json.loads, lines) if r.get("event") == "val"]


def _train_steps(run: Path) -> list[int]:
    log = run / "log.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    return [r["step"] for r in map(json.loads, lines) if r.get("event") == "train"]


def kill_during_validation(workdir: Path, *, iters: int = 4, eval_every: int = 2, batch: int = 4,
                           attempts: int = 3) -> Result:
    """kill -9 as soon as eval step k's training is logged (validation and snapshot k still to come), then
    --resume. An uninterrupted run validates at k; the resumed run must too, or best.* could differ.
    The kill has to land in a short window: up to `attempts` fresh runs are tried, and a case that never
    lands in it is a failure (not a pass, not a skip)."""
    data = workdir / "camvid" if (workdir / "camvid").is_dir() else make_camvid(workdir / "camvid")
    k = eval_every
    t0 = time.perf_counter()
    name = f"kill -9 between step {k} and its validation/snapshot"
    expected = f"resume validates step {k} (as the uninterrupted run does)"
    for attempt in range(attempts):
        run = workdir / f"run_valkill{attempt}"
        args = train_args(data, run, iters, eval_every=eval_every, batch=batch)
        with open(workdir / f"valkill{attempt}.stderr", "w") as err:
            proc = subprocess.Popen([PYTHON, "-m", "gald.train", *args], cwd=REPO, env=subprocess_env(),
                                    stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.time() + 600
        while k not in _train_steps(run) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if _latest_step(run) < k:
            break  # the kill landed between step k and its snapshot: the case is conclusive
    else:
        return Result("training", name, expected, f"inconclusive after {attempts} runs: snapshot {k} was always "
                      "written before the kill", False, time.perf_counter() - t0)
    loadable, note = _checkpoints_loadable(run)
    proc2 = subprocess.run([PYTHON, "-m", "gald.train", *args, "--resume"], cwd=REPO, env=subprocess_env(),
                           capture_output=True, text=True, timeout=900)
    steps = _val_steps(run)
    best = json.loads((run / "best.json").read_text())["training"]["step"] if (run / "best.json").exists() else None
    ok = proc2.returncode == 0 and k in steps and loadable
    observed = (f"exit {proc2.returncode}; validated at steps {steps} (uninterrupted: "
                f"{list(range(eval_every, iters + 1, eval_every))}); best.json from step {best}; {note}")
    return Result("training", name, expected, observed, ok, time.perf_counter() - t0)


NAN_SCRIPT = """
import math, sys
import gald.training.losses as L
_orig, _calls = L.GALDLoss.forward, [0]
def forward(self, *a, **k):
    out = _orig(self, *a, **k)
    _calls[0] += 1
    if _calls[0] == {nan_step}:
        out = dict(out, total=out["total"] * math.nan)
    return out
L.GALDLoss.forward = forward
from gald.train import main
raise SystemExit(main(sys.argv[1:]))
"""


def nan_stop(workdir: Path, *, iters: int = 5, nan_step: int = 3, batch: int = 4) -> Result:
    """A NaN loss at `nan_step` (monkeypatched in the subprocess, no hook in gald) stops the run with a message;
    last.* stays the intact checkpoint of step nan_step-1."""
    import torch

    import gald

    data = workdir / "camvid" if (workdir / "camvid").is_dir() else make_camvid(workdir / "camvid")
    run = workdir / "run_nan"
    t0 = time.perf_counter()
    proc = subprocess.run([PYTHON, "-c", NAN_SCRIPT.replace("{nan_step}", str(nan_step)),
                           *train_args(data, run, iters, eval_every=100, batch=batch)], cwd=REPO, env=subprocess_env(),
                          capture_output=True, text=True, timeout=600)
    message = next((line for line in proc.stderr.splitlines() if "loss became" in line), "")
    problems = []
    if proc.returncode == 0:
        problems.append("exit 0")
    if not re.search(rf"loss became nan at step {nan_step}", message):
        problems.append("no clear message")
    try:
        model, meta = gald.load_checkpoint(run / "last")
        step = meta["training"]["step"]
        finite = all(torch.isfinite(v).all() for v in model.state_dict().values() if v.is_floating_point())
        if step != nan_step - 1:
            problems.append(f"last is step {step}, expected {nan_step - 1}")
        if not finite:
            problems.append("last has non-finite weights")
        last = f"last: step {step}, finite={finite}"
    except Exception as exc:
        problems.append(f"last broken: {exc}")
        last = "last: broken"
    if TRACEBACK.search(proc.stderr):
        problems.append("traceback")
    observed = f"exit {proc.returncode}, {short(message.replace(str(run), '<run>'), 60)}; {last}"
    return Result("training", f"NaN loss injected at step {nan_step}", "non-zero exit, message, last intact",
                  observed + (f" [{'; '.join(problems)}]" if problems else ""), not problems,
                  time.perf_counter() - t0)


