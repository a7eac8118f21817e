"""`python -m gald.predict --checkpoint CKPT INPUT [--out DIR] [--head gald|ga|fcn] [--overlay]`

Segments one image or every image in a folder and writes, per input, `<stem>.png`: a palette PNG whose
pixel values are the class ids and whose palette is the checkpoint's class colours (so it opens as a
colour image and still round-trips to ids), and with `--overlay` `<stem>_overlay.png`, the colours blended
over the photo. `--head` picks the main GALD head or one of the probe heads (Fig. 5).

Images are read with their EXIF orientation applied, normalised with the checkpoint's statistics and run
at its inference scale; predictions are upsampled back to the original size. Unreadable files are
reported, skipped and counted. Exit codes: 0 all written, 1 some inputs failed, 2 unusable checkpoint,
input or arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .data import DatasetError, load_image
from .evaluation.evaluator import sliding_window
from .evaluation.inference import Inference, head_probabilities, pick_device
from .evaluation.metrics import class_map
from .heads import BY_KEY
from .io.checkpoint import CheckpointError, load_checkpoint
from .progress import progress

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")


class PredictError(ValueError):
    """Bad input or arguments (not a per-file failure)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m gald.predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="checkpoint path (x, x.safetensors or x.json)")
    p.add_argument("input", type=Path, help="an image, or a folder of images (not searched recursively)")
    p.add_argument("--out", type=Path, default=Path("outputs/predictions"),
                   help="output folder (default: outputs/predictions)")
    p.add_argument("--head", default="gald", choices=tuple(BY_KEY), help="which head's prediction to write")
    p.add_argument("--overlay", action="store_true", help="also write <stem>_overlay.png (colours over the photo)")
    p.add_argument("--alpha", type=float, default=0.5, help="overlay opacity of the colours (default: 0.5)")
    p.add_argument("--max-size", type=int, default=2048, metavar="PX",
                   help="sliding-window inference for network inputs larger than this (default: 2048)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if not 0.0 <= args.alpha <= 1.0:
        p.error("--alpha must be between 0 and 1")
    return args


def list_inputs(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise PredictError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {path}")
        return files
    raise PredictError(f"input {path} does not exist")


def output_names(files: Sequence[Path]) -> dict[Path, str]:
    """`<stem>` per input; `<name>` (stem + suffix) where two inputs share a stem (a.jpg and a.png)."""
    stems: dict[str, int] = {}
    for f in files:
        stems[f.stem] = stems.get(f.stem, 0) + 1
    return {f: f.stem if stems[f.stem] == 1 else f.name for f in files}


class Segmenter:
    """A loaded checkpoint plus the preprocessing it was trained with: `(H, W, 3) uint8 -> (H, W) ids`."""

    def __init__(self, model: torch.nn.Module, meta: dict[str, Any], device: torch.device, head: str = "gald",
                 max_size: int = 2048) -> None:
        self.inference = Inference(model, meta, device)
        self.model, self.meta, self.device, self.max_size = self.inference.model, meta, device, max_size
        self.num_classes = model.config.num_classes
        self.palette = np.zeros((256, 3), np.uint8)
        self.palette[: self.num_classes] = self.inference.palette
        cfg = model.config
        available = [h.key for h in self.inference.heads]
        if head not in available:
            raise PredictError(f"head {head!r} is not in this checkpoint ({cfg.arrangement}, probes={cfg.probes}); "
                               f"available: {available}")
        self.key = BY_KEY[head].output

    def tensor(self, rgb: np.ndarray) -> torch.Tensor:
        """(H, W, 3) uint8 -> the normalised (1, 3, h, w) network input at the checkpoint's inference scale."""
        return self.inference.preprocess(rgb)

    @torch.no_grad()
    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        x = self.tensor(rgb)
        logits = (sliding_window(self.model, x, self.max_size) if max(x.shape[-2:]) > self.max_size
                  else self.model(x))[self.key]
        return class_map(head_probabilities(logits, (h, w)))[0].to(torch.uint8).cpu().numpy()

    def colour_png(self, ids: np.ndarray) -> Image.Image:
        img = Image.fromarray(ids)  # "L"; putpalette makes it "P"
        img.putpalette(self.palette.ravel().tolist())
        return img

    def overlay(self, rgb: np.ndarray, ids: np.ndarray, alpha: float) -> Image.Image:
        blend = (1 - alpha) * rgb.astype(np.float32) + alpha * self.palette[ids].astype(np.float32)
        return Image.fromarray(blend.round().clip(0, 255).astype(np.uint8))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        files = list_inputs(args.input)
        if args.input.is_dir() and args.out.resolve() == args.input.resolve():
            raise PredictError(f"--out {args.out} is the input folder: the predictions would overwrite "
                               "PNG inputs; choose another folder")
        device = pick_device(args.device, PredictError)
        model, meta = load_checkpoint(args.checkpoint, map_location=device)
        segmenter = Segmenter(model, meta, device, args.head, args.max_size)
    except (CheckpointError, PredictError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    names = output_names(files)
    failed: list[tuple[Path, str]] = []
    bar = progress(files, desc=f"predict ({args.head})", unit="img", enabled=not args.no_progress)
    for path in bar:
        try:
            rgb = load_image(path, str(path))  # honours EXIF orientation; DatasetError names the file
            ids = segmenter(rgb)
            segmenter.colour_png(ids).save(args.out / f"{names[path]}.png")
            if args.overlay:
                segmenter.overlay(rgb, ids, args.alpha).save(args.out / f"{names[path]}_overlay.png")
        except (DatasetError, OSError) as exc:  # unreadable input, or an output that cannot be written
            failed.append((path, str(exc)))
            bar.write(f"skipped: {exc}" if isinstance(exc, DatasetError) else f"skipped {path}: {exc}",
                       file=sys.stderr)
    written = len(files) - len(failed)
    print(f"wrote {written} prediction{'s' if written != 1 else ''} ({args.head} head) to {args.out}"
          + (f"; {len(failed)} of {len(files)} inputs failed (reported above)" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
