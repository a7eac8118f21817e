"""Val mIoU of the app's own path, beside `gald.evaluate`'s: one number if the app runs what was measured.

    python -m benchmarks.app_path_miou [--checkpoint checkpoints/galdnet_lite2_camvid]
        [--data camvid:../shared/data/camvid] [--split val] [--scale S]

Every image of the split is decoded by the app's loader and analysed by `app.inference.Predictor.analyze`
(what /analyze returns), and its class maps are scored against the labels with `gald.ConfusionMatrix`; the
evaluation JSON beside the checkpoint (`gald.evaluate`) is printed next to it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from app import DEFAULT_CHECKPOINT, image_io
from app.inference import Predictor
from gald import ConfusionMatrix
from gald.data import build_dataset


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    ap.add_argument("--data", default="camvid:../shared/data/camvid")
    ap.add_argument("--split", default="val")
    ap.add_argument("--scale", type=float, help="input scale (default: the checkpoint's)")
    ap.add_argument("--limit", type=int, help="only the first N images")
    args = ap.parse_args(argv)
    predictor = Predictor.from_checkpoint(args.checkpoint, device="cpu", cache_size=1)
    dataset = build_dataset(args.data, args.split)
    files = dataset.files[: args.limit] if args.limit else dataset.files
    matrices: dict[str, ConfusionMatrix] = {}
    for index, (image_path, _) in enumerate(files):
        analysis = predictor.analyze(image_io.load_image(image_path).rgb, args.scale)
        target = torch.as_tensor(dataset[index][1]).long()  # the dataset's label mapping (void -> ignore)
        for head in analysis.heads:
            matrices.setdefault(head, ConfusionMatrix(predictor.num_classes)).update(
                torch.from_numpy(analysis.preds[head].astype("int64")), target)
    scale = predictor.scale if args.scale is None else args.scale
    print(f"{args.checkpoint} on {args.data} [{args.split}], {len(files)} images, input scale {scale:g}")
    evaluated = Path(str(args.checkpoint) + ".eval.json")
    reference = json.loads(evaluated.read_text())["heads"] if evaluated.is_file() and not args.limit else {}
    for head, cm in matrices.items():
        line = f"  {head:5s} app path {100 * cm.compute()['miou']:.2f}"
        if head in reference:
            line += f"   gald.evaluate ({evaluated.name}) {100 * reference[head]['miou']:.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
