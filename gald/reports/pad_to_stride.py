"""Does aligning the feature grid with the image help? Zero-pad each input to a multiple of the output stride.

    .venv/bin/python -m gald.reports.pad_to_stride --checkpoint CKPT --scale 1.5 [--data camvid:../shared/data/camvid]
        [--split train] [--multiple 16]

Runs `gald.evaluation.evaluator.evaluate` twice
 on the split at the given input scale (relative to the checkpoint's own):
the network as it is, and wrapped so that the input is zero-padded (the mean colour after normalisation) at
the bottom and right to a multiple of `--multiple`, the logits upsampled to the padded size (one feature cell
= exactly `multiple` pixels) and cropped back. Prints the mIoU of each head both ways. Used for the model card's
note on the non-monotonic scale curve (gald/reports/inference_scale.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader


class PaddedToMultiple(nn.Module):
    """Pad the input to a multiple of `multiple`, run `model`, return its 4-D outputs at the input's size."""

    def __init__(self, model: nn.Module, multiple: int = 16) -> None:
        super().__init__()
        self.model, self.multiple = model, multiple

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h, w = x.shape[-2:]
        ph, pw = -(-h // self.multiple) * self.multiple, -(-w // self.multiple) * self.multiple
        out = self.model(F.pad(x, (0, pw - w, 0, ph - h)))
        return {k: F.interpolate(v.float(), size=(ph, pw), mode="bilinear", align_corners=False)[..., :h, :w]
                for k, v in out.items() if v.dim() == 4}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--data", default="camvid:../shared/data/camvid")
    ap.add_argument("--split", default="train")
    ap.add_argument("--scale", type=float, default=1.0, help="relative to the checkpoint's inference scale")
    ap.add_argument("--multiple", type=int, default=16)
    args = ap.parse_args(argv)
    from .. import load_checkpoint
    from ..data import EvalTransform, build_dataset
    from ..evaluation.evaluator import evaluate
    from ..evaluation.inference import Preprocessing

    model, meta = load_checkpoint(args.checkpoint)
    pre = Preprocessing.from_metadata(meta)
    dataset = build_dataset(args.data, args.split, EvalTransform(pre.mean, pre.std))
    scale = args.scale * pre.scale
    for name, net in (("as is", model), (f"padded to x{args.multiple}", PaddedToMultiple(model, args.multiple))):
        loader = DataLoader(dataset, batch_size=1, num_workers=2)
        result = evaluate(net, loader, model.config.num_classes, device=torch.device("cpu"),
                          class_names=meta.get("class_names"), scales=(scale,), progress=False)
        mious = ", ".join(f"{h} {100 * r['miou']:.1f}" for h, r in result["heads"].items())
        print(f"{args.split}, input scale {scale:g}, {name}: {mious}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
