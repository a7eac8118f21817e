"""Which order of "normalise" and "resize to the input scale" does a checkpoint score better with?

    python -m gald.reports.resize_order --checkpoint checkpoints/galdnet_lite2_camvid \\
        [--data camvid:../shared/data/camvid] [--split train] [--limit N] [--json OUT]

(a) tensor: normalise the uint8 image at full resolution, then bilinear-resize the float tensor
    (`gald.evaluation.inference.scale_input`, the path `gald.evaluate`, `gald.calibrate` and the app share);
(b) uint8: resize the uint8 image with PIL's bilinear filter first, then normalise (the app's path before
    2026-11-29). Labels stay at full resolution; every head is scored on the split at the checkpoint's own
    input scale. Decide on the train split, as the scale and the class biases were chosen.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

from .. import load_checkpoint
from ..data import EvalTransform, build_dataset
from ..evaluation.evaluator import evaluate
from ..evaluation.inference import Preprocessing


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--data", default="camvid:../shared/data/camvid")
    ap.add_argument("--split", default="train")
    ap.add_argument("--limit", type=int, help="only the first N images")
    ap.add_argument("--json", type=Path, help="also write the table here")
    args = ap.parse_args(argv)
    model, meta = load_checkpoint(args.checkpoint)
    pre = Preprocessing.from_metadata(meta)
    names = meta.get("class_names")
    paths = {"tensor (normalise, then resize)": (EvalTransform(pre.mean, pre.std), pre.scale),
             "uint8 (PIL resize, then normalise)": (EvalTransform(pre.mean, pre.std, scale=pre.scale), 1.0)}
    table: dict[str, dict[str, float]] = {}
    for label, (transform, input_scale) in paths.items():
        dataset = build_dataset(args.data, args.split, transform)
        if args.limit:
            dataset = Subset(dataset, range(min(args.limit, len(dataset))))
        result = evaluate(model, DataLoader(dataset, batch_size=1, num_workers=1), model.config.num_classes,
                          device=torch.device("cpu"), class_names=names, input_scale=input_scale, progress=False)
        table[label] = {head: round(100 * r["miou"], 2) for head, r in result["heads"].items()}
        print(f"{label}: " + ", ".join(f"{h} {v:.2f}" for h, v in table[label].items()), flush=True)
    if args.json:
        record = {"checkpoint": str(args.checkpoint), "data": args.data, "split": args.split, "limit": args.limit,
                  "input_scale": pre.scale, "miou": table}
        args.json.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
