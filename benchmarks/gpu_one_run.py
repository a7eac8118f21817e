"""One run of a lent-GPU call, started by benchmarks/gpu_runs.py: `gald.train`, then an evaluation of its last
weights on the val set on the same device, written as one JSON (see gpu_runs.py for the whole picture).

    python -m benchmarks.gpu_one_run (--row ROW --seed K | --main NAME) --config CFG --val SPEC --runs DIR \
        --out DIR [--init CKPT] [--export DIR] [--eval-limit N] [--set KEY=VALUE ...]

Evaluation: `gald.evaluation.evaluator.evaluate` (every head: per-class IoU, mIoU, boundary IoU at 5 px;
small/large classes by gald.evaluation.metrics.small_large_split) at the checkpoint's input scale, and the
Fig. 4 statistic (a predicted segment's mean LD mask vs log10 of its area, per image, summarised as
gald.ablation.head_protocol does). The JSON has the end-to-end protocol's flat shape
(gald.ablation.end_to_end.flatten: what gald.ablation.stats reads) plus status, steps,
img/s, train and eval seconds and the full evaluation. A run stopped by its deadline (exit 130) is written
with status "stopped" and not evaluated.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Subset

from benchmarks.gpu_runs import MAIN_RUNS
from gald import export, train
from gald.ablation.end_to_end import flatten
from gald.ablation.rows import ROWS, config_overrides
from gald.data import EvalTransform, build_dataset
from gald.evaluate import write_json
from gald.evaluation.evaluator import evaluate, forward_probs, summarize_small_large
from gald.evaluation.metrics import class_map, small_large_split
from gald.evaluation.segments import correlation_summary, mask_size_correlation, segment_mask_stats
from gald.io.checkpoint import load_checkpoint

EVAL_BANDS = (5,)  # boundary IoU at 5 px only: the wider bands and the error decomposition cost seconds per image


def mask_vs_size(model, dataset, device: torch.device, input_scale: float) -> dict[str, Any] | None:
    """Fig. 4: per val image, the correlation of a predicted segment's mean LD mask with log10 of its area."""
    if not model.config.uses_ld:
        return None
    masks: list[torch.Tensor] = []
    hook = model.local_distribution.mask_act.register_forward_hook(lambda _m, _i, out: masks.append(out))
    correlations = []
    try:
        with torch.no_grad():
            for image, _label in dataset:
                probs = forward_probs(model, image[None].to(device), [input_scale], False, False, 2048)
                pred = class_map(probs["out"])[0].to(torch.uint8).cpu().numpy()
                mask = masks.pop()[0].float().mean(0).cpu().numpy()
                correlations.append(mask_size_correlation(segment_mask_stats(pred, mask)))
    finally:
        hook.remove()
    return correlation_summary(correlations)


def evaluate_run(checkpoint: Path, val: str, device: torch.device, limit: int | None = None) -> dict[str, Any]:
    """The last weights on the val set, on the training device (what every run of the call is judged by)."""
    model, meta = load_checkpoint(checkpoint, map_location=device)
    norm, input_scale = meta["normalization"], float(meta["inference"]["scale"])
    dataset = build_dataset(val, "val", EvalTransform(norm["mean"], norm["std"]))
    if limit:
        dataset = Subset(dataset, range(min(limit, len(dataset))))
    class_names = list(meta["class_names"])
    cuda = device.type == "cuda"  # on a CPU, loader workers only cost their start-up
    loader = DataLoader(dataset, batch_size=1, num_workers=2 if cuda else 0, pin_memory=cuda,
                        generator=torch.Generator())
    result = evaluate(model, loader, len(class_names), device=device, class_names=class_names,
                      input_scale=input_scale, band_widths=EVAL_BANDS, progress=False)
    split = small_large_split(class_names, result["class_pixel_share"])
    summarize_small_large(result, split["small"], split["large"])
    result["small_large"], result["input_scale"], result["data"] = split, input_scale, val
    result["mask_vs_size"] = mask_vs_size(model, dataset, device, input_scale)
    return result


def throughput(run_dir: Path, batch: int) -> dict[str, Any]:
    """Steps, training seconds and img/s from the run's log and checkpoint metadata."""
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines() if line.strip()]
    logged = [r["img_s"] for r in records if r.get("event") == "train"]
    meta = json.loads((run_dir / "last.json").read_text())["training"]
    steps, seconds = int(meta["step"]), float(meta["train_seconds"])
    return {"steps": steps, "train_seconds": seconds, "img_s": round(steps * batch / max(seconds, 1e-9), 1),
            "img_s_second_half": round(statistics.median(logged[len(logged) // 2:]), 1) if logged else None,
            "hardware": meta.get("hardware")}


def run_one(name: str, overrides: list[str], *, config: str, runs: Path, out: Path, val: str,
            eval_limit: int | None = None, export_dir: Path | None = None, extra: dict[str, Any]) -> dict[str, Any]:
    run_dir, target = runs / name, out / f"{name}.json"
    args = ["--config", config, "--out", str(run_dir), "--no-progress",
            *[a for o in overrides for a in ("--set", o)]]
    t0 = time.perf_counter()
    code = train.main(args)
    wall = round(time.perf_counter() - t0, 1)
    result: dict[str, Any] = {"name": name, **extra, "overrides": overrides, "protocol": "end_to_end_gpu",
                              "wall_seconds_train": wall}
    if code != 0:  # stopped at the deadline (130) or failed: no evaluation of a half-run
        result["status"] = "stopped" if code == 130 else f"failed (exit {code})"
    else:
        cfg = json.loads((run_dir / "config.json").read_text())
        device = torch.device("cuda" if cfg["train"]["device"] in ("auto", "cuda") and torch.cuda.is_available()
                              else "cpu")
        t1 = time.perf_counter()
        evaluation = evaluate_run(run_dir / "last", val, device, eval_limit)
        result.update(status="done", **flatten(evaluation), mask_vs_size=evaluation["mask_vs_size"],
                      **throughput(run_dir, cfg["optim"]["batch_size"]), iters=cfg["optim"]["iters"],
                      eval_seconds=round(time.perf_counter() - t1, 1), evaluation=evaluation)
        if export_dir is not None:
            export_dir.mkdir(parents=True, exist_ok=True)
            parent = cfg.get("init_checkpoint")
            export.main([str(run_dir / "last"), str(export_dir / name), "--fp16", "--log", str(run_dir / "log.jsonl"),
                         *(["--parent", parent] if parent else [])])
    out.mkdir(parents=True, exist_ok=True)
    write_json(result, target)  # strict JSON (NaN -> null), written atomically
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--row", choices=list(ROWS), help="a Table 1 row")
    which.add_argument("--main", choices=list(MAIN_RUNS), help="a main model run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", required=True)
    ap.add_argument("--val", required=True)
    ap.add_argument("--eval-limit", type=int)
    ap.add_argument("--runs", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--init", default="checkpoints/galdnet_lite2_camvid")
    ap.add_argument("--export", type=Path)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    if args.row:
        name = f"{args.row}_seed{args.seed}"
        extra = {"row": args.row, "seed": args.seed, "config": ROWS[args.row].model}
        overrides = [*config_overrides(args.row), f"train.seed={args.seed}", *args.overrides]
    else:
        name, extra = args.main, {"main": args.main}
        overrides = [o.format(init=args.init) for o in MAIN_RUNS[name]] + args.overrides
    r = run_one(name, overrides, config=args.config, runs=args.runs, out=args.out, val=args.val,
                eval_limit=args.eval_limit, export_dir=args.export, extra=extra)
    if r["status"] == "done":
        print(f"{name}: val mIoU {100 * r['miou']:.1f} after {r['steps']} steps, {r['img_s']:.0f} img/s", flush=True)
    else:
        print(f"{name}: {r['status']}", flush=True)
    return 0 if r["status"] == "done" else 1


if __name__ == "__main__":
    raise SystemExit(main())
