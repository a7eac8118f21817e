"""A checkpoint's training history: the learning curve of a run's log, and the chain of training phases that
`gald.export --parent` records (a run continued from an earlier run's weights), as one curve for the model card
and the app's Dashboard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..io.checkpoint import checkpoint_paths, read_metadata

VAL_KEYS = ("gald_miou", "ga_miou", "fcn_miou", "boundary_iou_5")


# gaps between log records longer than this are a stopped run (end of a session), not training time
MAX_GAP_S = 600.0


def learning_curve(log_path: str | Path) -> dict[str, list[dict[str, float]]]:
    """{"train": [{step, loss, lr, wall_s}], "val": [{step, gald_miou, ..., wall_s}]} from a trainer's log.jsonl
    (last record per step wins, so a resumed run's repeated steps count once). `wall_s` is the training wall
    time up to that record: the sum of the gaps between consecutive records, leaving out gaps over 10 minutes
    (the run was stopped between sessions)."""
    train: dict[int, dict[str, float]] = {}
    val: dict[int, dict[str, float]] = {}
    wall, last_time = 0.0, None
    for line in Path(log_path).read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill
        step = rec.get("step")
        if not isinstance(step, int):
            continue
        t = rec.get("time")
        if isinstance(t, (int, float)):
            if last_time is not None and 0 < t - last_time <= MAX_GAP_S:
                wall += t - last_time
            last_time = t
        if rec.get("event") == "train" and isinstance(rec.get("total"), (int, float)):
            train[step] = {"step": step, "loss": round(float(rec["total"]), 4), "lr": float(rec.get("lr", 0.0)),
                           "wall_s": round(wall, 1)}
        elif rec.get("event") == "val":
            val[step] = {"step": step, **{k: round(float(rec[k]), 5) for k in VAL_KEYS
                                          if isinstance(rec.get(k), (int, float))}, "wall_s": round(wall, 1)}
    return {"train": [train[k] for k in sorted(train)], "val": [val[k] for k in sorted(val)]}


def parent_record(parent: str | Path) -> dict[str, Any]:
    """What a model card needs of the run a checkpoint was started from (`init_checkpoint`): its recipe, its
    learning curve, its own parent, and its val mIoU when an `<parent>.eval.json` lies beside it."""
    meta = read_metadata(parent)
    record = {"source": str(parent), **{k: meta[k] for k in ("training", "learning_curve", "parent") if k in meta}}
    eval_path = checkpoint_paths(parent)[1].with_suffix(".eval.json")
    if eval_path.is_file():
        heads = json.loads(eval_path.read_text()).get("heads", {})
        record["val_miou"] = {h: r["miou"] for h, r in heads.items() if "miou" in r}
    return record


def training_phases(meta: dict[str, Any]) -> list[dict[str, Any]]:
    """A checkpoint's training phases, oldest first: its `parent` records (written by `--parent`), then itself."""
    chain = [meta]
    while isinstance(chain[-1].get("parent"), dict):
        chain.append(chain[-1]["parent"])
    return chain[::-1]


def phased_learning_curve(meta: dict[str, Any], final_val: dict[str, float] | None = None) -> dict[str, Any]:
    """One learning curve over every training phase of a checkpoint (its `parent` chain, oldest first), steps
    counted from the first phase. A phase trained without validation gets one val point at its end: its
    recorded `val_miou`, or for the last phase `final_val` ({head: mIoU}, e.g. from the evaluation JSON).
    Adds "phase_starts": the global step where each phase after the first began."""
    chain = training_phases(meta)
    train: list[dict[str, Any]] = []
    val: list[dict[str, Any]] = []
    starts: list[int] = []
    offset = 0
    for i, phase in enumerate(chain):
        curve = phase.get("learning_curve") or {}
        if i:
            starts.append(offset)
        train += [{**r, "step": r["step"] + offset} for r in curve.get("train") or []]
        val += [{**r, "step": r["step"] + offset} for r in curve.get("val") or []]
        steps = (phase.get("training") or {}).get("step") or max((r["step"] for r in curve.get("train") or []),
                                                                  default=0)
        end_val = phase.get("val_miou") if i < len(chain) - 1 else final_val
        if not curve.get("val") and end_val:
            val.append({"step": offset + steps, **{f"{h}_miou": v for h, v in end_val.items()}})
        offset += steps
    return {"train": train, "val": val, "phase_starts": starts}
