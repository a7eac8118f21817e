"""`python -m gald.calibrate --checkpoint CKPT --data SPEC --out DST [--split train] [--sample-stride 4]`

Per-class bias calibration of a trained GALDNet, fitted on its *training* split.

Why: trained with OHEM on CamVid, the bundled model under-predicts rare thin classes even on the images it
was trained on (Lite2: Pole predicted on 0.28x as many train pixels as it covers, recall 0.15), and mIoU
weighs Pole as much as Road. Adding one constant per class to a head's logits moves its decision boundaries
between classes without touching the features. For each head (GALD, GA probe, FCN probe) the constants are
fitted by coordinate ascent to maximise that head's mIoU on a regular grid of the split's pixels, then
folded into the head's final 1x1 conv bias: bilinear upsampling of the logits commutes with a per-channel
constant, so evaluate, predict and the app use the calibrated checkpoint as they use any other.

Fit it on train, never on val (val is for picking checkpoints; a bias fitted on val would score val with
its own answers). The fit and its train-pixel mIoU before / after are recorded in the metadata
(`calibration`), and the model card prints them. Exit codes: 0 ok, 2 unusable checkpoint / dataset / arguments.
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

from ..data import DatasetError, EvalTransform, build_dataset
from ..heads import BY_OUTPUT
from ..io.checkpoint import CheckpointError, checkpoint_paths, load_checkpoint, save_checkpoint
from ..progress import progress as progress_bar
from .evaluator import forward_probs
from .inference import Preprocessing, inference_model
from .metrics import confusion_counts, miou_of_matrix

DEFAULT_STEPS = tuple(round(0.1 * i, 1) for i in range(-20, 21) if i)  # +-0.1 .. +-2.0 per coordinate move


class CalibrationError(ValueError):
    """The checkpoint cannot be calibrated on this data (already calibrated, class counts differ, no pixels)."""


def miou_of(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> float:
    """mIoU over the classes present in `target` or `pred` (undefined IoUs are skipped, as in evaluate)."""
    return miou_of_matrix(confusion_counts(pred, target, num_classes))


def fit_class_bias(logits: torch.Tensor, target: torch.Tensor, *, sweeps: int = 3,
                   steps: Sequence[float] = DEFAULT_STEPS) -> tuple[torch.Tensor, float, float]:
    """Coordinate ascent on one additive bias per class to maximise mIoU of argmax(logits + bias).

    `logits` (N, C) float, `target` (N,) int64 in [0, C). Returns (bias with mean 0, mIoU before, mIoU after).
    A move is kept only if it raises mIoU, so the result is never worse than no bias on these pixels.
    """
    n, c = logits.shape
    if n == 0:
        raise CalibrationError("no labelled pixels to calibrate on")
    bias = torch.zeros(c, dtype=logits.dtype)
    reach = max(abs(s) for s in steps)
    before = best = miou_of(logits.argmax(1), target, c)
    for _ in range(sweeps):
        improved = False
        for k in range(c):
            shifted = logits + bias
            col = shifted[:, k]
            others = shifted.clone()
            others[:, k] = float("-inf")
            other_val, other_idx = others.max(1)
            margin = col - other_val  # pixel goes to class k when margin + delta > 0
            # only pixels within reach of the largest step can change class: count the rest once
            contested = margin.abs() <= reach
            fixed = confusion_counts(torch.where(margin[~contested] > 0, k, other_idx[~contested]),
                              target[~contested], c)
            margin_c, other_c, target_c = margin[contested], other_idx[contested], target[contested]
            best_delta = 0.0
            for delta in steps:
                pred = torch.where(margin_c + delta > 0, k, other_c)
                score = miou_of_matrix(fixed + confusion_counts(pred, target_c, c))
                if score > best + 1e-9:
                    best, best_delta = score, delta
            if best_delta:
                bias[k] += best_delta
                improved = True
        if not improved:
            break
    return bias - bias.mean(), before, best


@torch.no_grad()
def sample_logits(model: torch.nn.Module, loader: DataLoader, num_classes: int, *, input_scale: float,
                  sample_stride: int, max_size: int = 2048, progress: bool = True
                  ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Each head's log-probabilities at the label resolution on every `sample_stride`-th row and column of each
    image, where the label is a class (not ignore), from the forward pass `gald.evaluate` uses (inputs larger
    than `max_size` as sliding windows). Log-probabilities differ from logits by one constant per pixel, so a
    bias fitted on them moves argmax(logits + bias) the same way. Returns ({output key: (N, C)}, target (N,))."""
    logits: dict[str, list[torch.Tensor]] = {}
    targets: list[torch.Tensor] = []
    for images, labels in progress_bar(loader, desc="calibrate: logits", enabled=progress, unit="img"):
        for image, label in zip(images, labels, strict=True):
            probs = forward_probs(model, image[None], [input_scale], False, False, max_size)
            grid = label[::sample_stride, ::sample_stride]
            keep = (grid >= 0) & (grid < num_classes)
            targets.append(grid[keep].long())
            for key, p in probs.items():
                if p.shape[-2:] != label.shape[-2:]:
                    p = F.interpolate(p, size=label.shape[-2:], mode="bilinear", align_corners=False)
                sampled = p[0, :, ::sample_stride, ::sample_stride].permute(1, 2, 0)[keep]
                logits.setdefault(key, []).append(sampled.log())
    return {k: torch.cat(v) for k, v in logits.items()}, torch.cat(targets) if targets else torch.zeros(0)


def calibrate_checkpoint(checkpoint: str | Path, data: str, out: str | Path, *, split: str = "train",
                                              sample_stride: int = 4, limit: int | None = None, workers: int = 2,
                         progress: bool = True) -> dict[str, Any]:
    """Fit, fold the biases into the classifiers, write OUT (same storage dtype). Returns the calibration record."""
    if checkpoint_paths(checkpoint) == checkpoint_paths(out):
        raise CalibrationError("--out must differ from --checkpoint: the uncalibrated model is kept")
    if sample_stride < 1:
        raise CalibrationError(f"--sample-stride must be >= 1, got {sample_stride}")
    model, meta = load_checkpoint(checkpoint)
    if meta.get("calibration"):
        raise CalibrationError(f"{checkpoint} is already calibrated (on {meta['calibration'].get('split')}); "
                               "calibrate the uncalibrated checkpoint it came from instead")
    num_classes = model.config.num_classes
    pre = Preprocessing.from_metadata(meta)  # the input scale is applied to the normalised tensor, as in evaluate
    dataset = build_dataset(data, split, EvalTransform(pre.mean, pre.std))
    if dataset.num_classes != num_classes:
        raise CalibrationError(f"dataset {data} [{split}] has {dataset.num_classes} classes but {checkpoint} "
                               f"predicts {num_classes}")
    class_names = list(meta.get("class_names") or dataset.class_names)
    if limit is not None:
        dataset = Subset(dataset, range(min(limit, len(dataset))))
    loader = DataLoader(dataset, batch_size=1, num_workers=workers)
    input_scale = pre.scale
    # sampled with the inference form of the network (what evaluate and the app run); a copy, because the
    # checkpoint written below keeps the trainable (unfolded) weights
    runner = inference_model(copy.deepcopy(model), "cpu")
    logits, target = sample_logits(runner, loader, num_classes, input_scale=input_scale,
                                   sample_stride=sample_stride, progress=progress)
    record: dict[str, Any] = {
        "method": "one additive bias per class and head, coordinate ascent on the head's mIoU",
        "data": data, "split": split, "images": len(dataset), "sample_stride": sample_stride,
        "pixels": int(target.numel()), "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "bias": {}, "miou_before": {}, "miou_after": {},
    }
    heads = [(key, BY_OUTPUT[key].module) for key in BY_OUTPUT if key in logits]
    for key, module in progress_bar(heads, desc="calibrate: fit", enabled=progress, unit="head"):
        bias, before, after = fit_class_bias(logits[key], target)
        with torch.no_grad():
            getattr(model, module).classifier.bias += bias.to(getattr(model, module).classifier.bias.dtype)
        head = BY_OUTPUT[key].key
        record["bias"][head] = dict(zip(class_names, (round(float(b), 4) for b in bias), strict=True))
        record["miou_before"][head], record["miou_after"][head] = before, after
    dtype = torch.float16 if meta.get("storage_dtype") == "float16" else torch.float32
    meta = {k: v for k, v in meta.items() if k not in ("format", "format_version", "config", "storage_dtype")}
    meta["calibration"] = {**record, "source": str(checkpoint)}
    save_checkpoint(out, model, meta, dtype=dtype)
    return meta["calibration"]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gald.calibrate", description=__doc__.splitlines()[2])
    p.add_argument("--checkpoint", required=True, help="trained checkpoint (x, x.safetensors or x.json)")
    p.add_argument("--data", required=True, help="dataset spec, e.g. camvid:../shared/data/camvid")
    p.add_argument("--out", required=True, help="calibrated checkpoint to write (x -> x.safetensors + x.json)")
    p.add_argument("--split", default="train", help="split to fit on (default train; never the val you report)")
    p.add_argument("--sample-stride", type=int, default=4,
                   help="use every N-th row and column of each label (default 4: 1/16 of the pixels)")
    p.add_argument("--limit", type=int, help="only the first N images (quick checks)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.split != "train":
        print(f"warning: calibrating on '{args.split}': any mIoU you then report on '{args.split}' is "
              "scored with biases fitted to it", file=sys.stderr)
    try:
        record = calibrate_checkpoint(args.checkpoint, args.data, args.out, split=args.split,
                                      sample_stride=args.sample_stride, limit=args.limit,
                                      workers=args.workers, progress=not args.no_progress)
    except (CheckpointError, DatasetError, CalibrationError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for head in record["miou_before"]:
        biases = ", ".join(f"{k} {v:+.2f}" for k, v in record["bias"][head].items() if abs(v) >= 0.05)
        print(f"{head}: {split_miou(record, head)}; biases {biases or 'none'}")
    print(f"wrote {checkpoint_paths(args.out)[0]} and {checkpoint_paths(args.out)[1]}")
    return 0


def split_miou(record: dict[str, Any], head: str) -> str:
    return (f"{record['split']} mIoU on {record['pixels']} sampled pixels "
            f"{100 * record['miou_before'][head]:.2f} -> {100 * record['miou_after'][head]:.2f}")

