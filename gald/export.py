"""`python -m gald.export SRC DST [--fp16] [--log LOG] [--parent CKPT] [--inference-scale S]`: copy a checkpoint.

Used to turn a run's `best` checkpoint into a bundled checkpoint (`checkpoints/galdnet_lite0_camvid`): the model is
rebuilt from SRC's metadata (nothing unpickled), written again with `save_checkpoint` (atomic), optionally
with fp16 storage to halve the file (it is cast back to fp32 on load), and the metadata gains an `export`
record naming the source. With `--log`, the run's learning curve (train loss every logged step, val mIoU
of every head at every validation) goes into the metadata too, for the app's dashboard. With
`--output-stride 8`, a model trained at output stride 16 is rebuilt at 8 (the same weights: only the
dilations of the last stages change), the "train at 16, infer at 8" trick. With `--inference-scale S`,
evaluate / predict / the app resize inputs by S before the network (a model trained on random rescales
can see thin objects better when zoomed in; `gald/reports/inference_scale.py` measures that on train data).
Evaluate the exported file again: fp16 storage moves val mIoU by ~0.01 points.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .io.checkpoint import CheckpointError, checkpoint_paths, load_checkpoint, read_metadata, save_checkpoint
from .models import GALDConfig, GALDNet

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


def export_checkpoint(src: str | Path, dst: str | Path, *, fp16: bool = False,
                      log: str | Path | None = None, output_stride: int | None = None,
                      parent: str | Path | None = None, inference_scale: float | None = None) -> tuple[Path, Path]:
    """Re-save SRC as DST (fp16 storage if asked, learning curve from `log`, rebuilt at another output stride
    if asked, with the record of the checkpoint its training started from if `parent`, run at another input
    scale by evaluate / predict / the app if `inference_scale`). Returns (weights, metadata) paths."""
    model, meta = load_checkpoint(src)
    meta = dict(meta)
    if output_stride is not None and output_stride != model.config.output_stride:
        trained_at = model.config.output_stride
        rebuilt = GALDNet(GALDConfig.from_dict({**model.config.to_dict(), "output_stride": output_stride}))
        rebuilt.load_state_dict(model.state_dict(), strict=True)
        model = rebuilt
        meta["trained_output_stride"] = meta.get("trained_output_stride", trained_at)
    for key in ("format", "format_version", "config", "storage_dtype"):
        meta.pop(key, None)  # written again by save_checkpoint
    earlier = meta.get("export")  # re-exporting an exported checkpoint keeps where it first came from
    meta["export"] = {"source": str(src), "date": _dt.datetime.now().isoformat(timespec="seconds"),
                      **({"earlier": earlier} if earlier else {})}
    if log is not None:
        meta["learning_curve"] = learning_curve(log)
    if parent is not None:
        meta["parent"] = parent_record(parent)
    if inference_scale is not None:
        if not (math.isfinite(inference_scale) and 0.1 <= inference_scale <= 4.0):
            raise ValueError(f"--inference-scale must be between 0.1 and 4, got {inference_scale}")
        inference = dict(meta.get("inference") or {})
        inference.setdefault("training_input_scale", inference.get("scale", 1.0))
        meta["inference"] = {**inference, "scale": inference_scale}
    return save_checkpoint(dst, model, meta, dtype=torch.float16 if fp16 else torch.float32)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gald.export", description=__doc__.splitlines()[0])
    p.add_argument("src", help="checkpoint to read (x, x.safetensors or x.json)")
    p.add_argument("dst", help="checkpoint to write (x -> x.safetensors + x.json)")
    p.add_argument("--fp16", action="store_true", help="store the weights as float16 (half the size)")
    p.add_argument("--log", type=Path, help="the run's log.jsonl: store its learning curve in the metadata")
    p.add_argument("--output-stride", type=int, choices=(8, 16, 32),
                   help="rebuild at this output stride (same weights), e.g. 8 for a model trained at 16")
    p.add_argument("--parent", help="the checkpoint this run started from (its init_checkpoint): its recipe, "
                   "learning curve and val mIoU are kept in the metadata for the model card")
    p.add_argument("--inference-scale", type=float,
                   help="input scale evaluate / predict / the app run it at (the training config's is the default); "
                   "choose it on train data, e.g. with gald/reports/inference_scale.py")
    args = p.parse_args(argv)
    if checkpoint_paths(args.src) == checkpoint_paths(args.dst):
        print("error: SRC and DST are the same checkpoint", file=sys.stderr)
        return 2
    try:
        weights, meta = export_checkpoint(args.src, args.dst, fp16=args.fp16, log=args.log,
                                          output_stride=args.output_stride, parent=args.parent,
                                          inference_scale=args.inference_scale)
    except (CheckpointError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {weights} ({weights.stat().st_size / 2**20:.1f} MiB) and {meta}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
