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
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from .io.checkpoint import CheckpointError, checkpoint_paths, load_checkpoint, save_checkpoint
from .models import GALDConfig, GALDNet
from .reports.training_phases import learning_curve, parent_record


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
