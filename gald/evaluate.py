"""`python -m gald.evaluate --checkpoint CKPT --data SPEC --split val [--flip] [--scales 0.75,1.0,1.25] [--json OUT]`

Evaluates every head of a checkpoint (GALD main head, GA and FCN probes; Section 4 / Fig. 5) on a dataset:
per-class IoU, mIoU, pixel accuracy, boundary-band IoU (how much each head over-smooths near edges),
and mean IoU over small and large classes (the paper's claim: LD helps small, thin objects).

The checkpoint is read without unpickling (safetensors + JSON). Images are normalised with the
checkpoint's statistics and run at its inference scale (`meta["inference"]["scale"]`, which multiplies
`--scales`); metrics are always computed at the label's full resolution. Images larger than `--max-size`
at the network input are evaluated with overlapping sliding windows.

JSON output (`--json`), the shape read by the app and `gald/reports/ablation_table.py`:

    {"name", "split", "heads": {"gald"|"ga"|"fcn": {"miou", "pixel_accuracy", "small_miou", "large_miou",
     "per_class_iou": {class: iou}, "confusion_matrix"}}, "boundary_iou": {head: {"2": iou, "5": ...}},
     "class_pixel_share": {class: share}, "small_large": {"small": [...], "large": [...], "rule": ...},
     "num_images", "provenance": {...}, "training": {checkpoint's training config}}

An IoU that is undefined (class absent from both prediction and labels) is written as `null`.
Exit codes: 0 ok, 2 unusable checkpoint / dataset / arguments.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Subset

from .data import (
    DatasetError,
    EvalTransform,
    build_dataset,
)
from .evaluation.evaluator import evaluate, summarize_small_large
from .evaluation.inference import Preprocessing, inference_model, pick_device
from .evaluation.metrics import DEFAULT_BAND_WIDTHS, small_large_split
from .io.checkpoint import CheckpointError, load_checkpoint

HEAD_ORDER = ("gald", "ga", "fcn")


class EvaluationError(ValueError):
    """The checkpoint and the dataset cannot be evaluated together (e.g. different class counts)."""


def parse_scales(text: str) -> tuple[float, ...]:
    try:
        scales = tuple(float(s) for s in text.split(",") if s.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--scales must be comma-separated numbers, got {text!r}") from exc
    if not scales or any(not math.isfinite(s) or s <= 0 for s in scales):
        raise argparse.ArgumentTypeError(f"--scales must be positive numbers, got {text!r}")
    return scales


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m gald.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="checkpoint path (x, x.safetensors or x.json)")
    p.add_argument("--data", required=True, help="dataset spec: camvid:PATH, cityscapes:PATH or hf:NAME_OR_PATH")
    p.add_argument("--split", default="val", help="dataset split (default: val)")
    p.add_argument("--flip", action="store_true", help="also average over horizontally flipped inputs")
    p.add_argument("--scales", type=parse_scales, default=(1.0,), metavar="S1,S2,...",
                   help="test-time scales, multiplied by the checkpoint's inference scale (default: 1.0)")
    p.add_argument("--json", type=Path, metavar="OUT", help="write the full result as JSON")
    p.add_argument("--limit", type=int, metavar="N", help="evaluate only the first N images")
    p.add_argument("--max-size", type=int, default=2048, metavar="PX",
                   help="sliding-window evaluation for network inputs larger than this (default: 2048)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA only)")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers (default: 2)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        p.error("--limit must be at least 1")
    if args.max_size < 32:
        p.error("--max-size must be at least 32 pixels")
    return args


def run_evaluation(checkpoint: str | Path, data: str, split: str = "val", *, flip: bool = False,
                   scales: Sequence[float] = (1.0,), limit: int | None = None, max_size: int = 2048,
                   device: str = "auto", amp: bool = False, workers: int = 2,
                   band_widths: Sequence[int] = DEFAULT_BAND_WIDTHS, progress: bool = True) -> dict[str, Any]:
    """Load, evaluate and annotate; raises CheckpointError / DatasetError / EvaluationError."""
    t0 = time.perf_counter()
    dev = pick_device(device, EvaluationError)
    model, meta = load_checkpoint(checkpoint, map_location=dev)
    model = inference_model(model, dev)  # the form the app runs
    num_classes = model.config.num_classes
    pre = Preprocessing.from_metadata(meta)  # the scale is applied by the evaluator, to the normalised tensor
    transform = EvalTransform(pre.mean, pre.std)
    dataset = build_dataset(data, split, transform)
    if dataset.num_classes != num_classes:
        raise EvaluationError(f"dataset {data} [{split}] has {dataset.num_classes} classes but checkpoint "
                              f"{checkpoint} predicts {num_classes}: evaluate on the dataset it was trained for")
    class_names = list(meta.get("class_names") or dataset.class_names)
    notes = []
    if list(dataset.class_names) != class_names:
        notes.append(f"class names differ between checkpoint {class_names} and dataset "
                     f"{list(dataset.class_names)}; reporting the checkpoint's")
    n_total = len(dataset)
    if limit is not None and limit < n_total:
        dataset = Subset(dataset, range(limit))
    input_scale = pre.scale
    loader = DataLoader(dataset, batch_size=1, num_workers=workers, pin_memory=dev.type == "cuda",
                        generator=torch.Generator())
    result = evaluate(model, loader, num_classes, device=dev, class_names=class_names, scales=tuple(scales),
                      flip=flip, input_scale=input_scale, band_widths=band_widths, amp=amp,
                      max_size=max_size, progress=progress, error_decomposition=True)
    split_info = small_large_split(class_names, result["class_pixel_share"])
    summarize_small_large(result, split_info["small"], split_info["large"])
    training = meta.get("training") or {}
    result = {"name": training.get("name"), "split": split, **result, "small_large": split_info,
              "provenance": {
                  "checkpoint": str(checkpoint), "data": data, "split": split, "flip": flip,
                  "scales": list(scales), "input_scale": input_scale, "max_size": max_size, "limit": limit,
                  "dataset_size": n_total, "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                  "device": str(dev), "device_name": (torch.cuda.get_device_name(dev) if dev.type == "cuda"
                                                      else platform.processor() or platform.machine()),
                  "wall_time_s": round(time.perf_counter() - t0, 3), "torch": torch.__version__,
                  "python": platform.python_version(), "notes": notes},
              "training": training}
    return result


# --------------------------------------------------------------------------- output
def _pct(v: Any) -> str:
    return "-" if not isinstance(v, (int, float)) or math.isnan(v) else f"{100 * v:5.1f}"


def format_table(result: dict[str, Any]) -> str:
    """Per-class IoU of each head side by side, then mIoU, pixel accuracy, small/large and boundary IoU (%)."""
    heads = [h for h in HEAD_ORDER if h in result["heads"]] + [h for h in result["heads"] if h not in HEAD_ORDER]
    share = result.get("class_pixel_share", {})
    names = list(share) or list(result["heads"][heads[0]]["per_class_iou"])
    width = max([len(n) for n in names] + [len("errors: hallucinated segment"), 5])
    small = set(result.get("small_large", {}).get("small", []))
    header = f"{'class':<{width}}  {'px %':>5}  " + "  ".join(f"{h:>6}" for h in heads)
    lines = [header, "-" * len(header)]
    for n in names:
        tag = "*" if n in small else " "
        cells = "  ".join(f"{_pct(result['heads'][h]['per_class_iou'].get(n)):>6}" for h in heads)
        lines.append(f"{n + tag:<{width}}  {_pct(share.get(n)):>5}  {cells}")
    lines.append("-" * len(header))
    rows = [("mIoU", "miou"), ("pixel accuracy", "pixel_accuracy"), ("small-class mIoU*", "small_miou"),
            ("large-class mIoU", "large_miou")]
    for label, key in rows:
        lines.append(f"{label:<{width}}  {'':>5}  " + "  ".join(f"{_pct(result['heads'][h].get(key)):>6}"
                                                                for h in heads))
    bands = result.get("boundary_iou", {})
    widths = sorted({int(w) for h in heads for w in bands.get(h, {})})
    for w in widths:
        lines.append(f"{f'boundary IoU @{w}px':<{width}}  {'':>5}  "
                     + "  ".join(f"{_pct(bands.get(h, {}).get(str(w))):>6}" for h in heads))
    decomp = result.get("error_decomposition", {})
    for kind in ("missed_segment", "hallucinated_segment", "boundary", "interior"):
        if any(kind in decomp.get(h, {}) for h in heads):
            lines.append(f"{'errors: ' + kind.replace('_', ' '):<{width}}  {'':>5}  "
                         + "  ".join(f"{_pct(decomp.get(h, {}).get(kind)):>6}" for h in heads))
    prov = result.get("provenance", {})
    lines.append("")
    lines.append(f"{result['num_images']} images of {prov.get('data')} [{prov.get('split')}] · scales "
                 f"{prov.get('scales')} x input scale {prov.get('input_scale')} · flip {prov.get('flip')} · "
                 f"{prov.get('device')} · {prov.get('wall_time_s')} s · * small class "
                 f"({result.get('small_large', {}).get('rule')})")
    lines.extend(f"note: {n}" for n in prov.get("notes", []))
    return "\n".join(lines)


def _json_safe(obj: Any) -> Any:
    """NaN/inf -> null, so the file is strict JSON (readable by jq, browsers, ...)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def write_json(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(_json_safe(result), indent=1, allow_nan=False) + "\n")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = run_evaluation(args.checkpoint, args.data, args.split, flip=args.flip, scales=args.scales,
                                limit=args.limit, max_size=args.max_size, device=args.device, amp=args.amp,
                                workers=args.workers, progress=not args.no_progress)
    except (CheckpointError, DatasetError, EvaluationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_table(result))
    if args.json:
        write_json(result, args.json)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
