"""At which input scale should a checkpoint run? Measured on the *train* split, so val stays for picking.

    .venv/bin/python -m gald.reports.inference_scale [--checkpoint checkpoints/galdnet_lite2_camvid]
        [--data camvid:../shared/data/camvid] [--split train] [--scales 1.0,1.25,1.5,1.75,2.0]
        [--cache-dir /work/runs/inference_scale] [--json gald/reports/inference_scale.json]

A model trained on random rescales (0.5-2x) of 360x480 images and run at output stride 16 sees a 4-pixel pole
as a quarter of a feature cell at scale 1; zooming the input in gives thin and small classes more cells, at
scale^2 the compute. For each scale (relative to the checkpoint's training input scale) this evaluates every
head with `gald.evaluate` at the labels' full resolution and prints mIoU, the small classes' IoU and the
relative cost; `gald.export --inference-scale S` then records the chosen scale in the checkpoint.
Each scale's evaluation JSON is kept in `--cache-dir` (reused when its provenance matches), so adding a
scale costs only that scale.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any


def scale_row(scale: float, ev: dict[str, Any], small: list[str]) -> dict[str, Any]:
    heads = ev["heads"]
    return {"scale": scale, "relative_cost": round(scale * scale, 3),
            "miou": {h: heads[h]["miou"] for h in heads},
            "small_class_iou": {c: heads["gald"]["per_class_iou"].get(c) for c in small}}


def table(rows: list[dict[str, Any]]) -> str:
    small = list(rows[0]["small_class_iou"]) if rows else []
    heads = [h for h in ("gald", "ga", "fcn") if rows and h in rows[0]["miou"]]
    names = {"gald": "GALD", "ga": "GA probe", "fcn": "FCN probe"}
    lines = ["| scale | cost | " + " | ".join(names[h] for h in heads) + " | " + " | ".join(small) + " |",
             "|---" * (2 + len(heads) + len(small)) + "|"]
    for r in rows:
        cells = [f"{r['scale']:g}", f"{r['relative_cost']:.2f}x"]
        cells += [f"{100 * r['miou'][h]:.1f}" for h in heads]
        cells += ["-" if r["small_class_iou"][c] is None else f"{100 * r['small_class_iou'][c]:.1f}" for c in small]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def weights_digest(checkpoint: Path) -> str:
    from ..io.checkpoint import checkpoint_paths
    weights, meta = checkpoint_paths(checkpoint)
    return hashlib.sha256(weights.read_bytes() + meta.read_bytes()).hexdigest()


def cached_or_evaluate(checkpoint: Path, digest: str, data: str, split: str, scale: float,
                       cache_dir: Path) -> dict[str, Any]:
    """The evaluation at `scale`, from the cache when it was made from these exact files (`digest`, see
    `weights_digest`) and settings."""
    from ..evaluate import run_evaluation
    path = cache_dir / f"{checkpoint.name}.{split}.s{scale:g}.eval.json"
    if path.is_file():
        ev = json.loads(path.read_text())
        prov = ev.get("provenance") or {}
        if (ev.get("checkpoint_sha256"), prov.get("data"), prov.get("split"), prov.get("scales"),
                prov.get("flip")) == (digest, data, split, [scale], False):
            return ev
    ev = {**run_evaluation(checkpoint, data, split, scales=(scale,)), "checkpoint_sha256": digest}
    cache_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ev))
    return ev


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--data", default="camvid:../shared/data/camvid")
    ap.add_argument("--split", default="train")
    ap.add_argument("--scales", default="1.0,1.25,1.5,1.75,2.0")
    ap.add_argument("--cache-dir", type=Path, default=Path("/work/runs/inference_scale"))
    ap.add_argument("--json", type=Path, help="write the table's numbers here")
    args = ap.parse_args(argv)
    from ..data import SMALL_CAMVID_CLASSES
    from ..evaluate import parse_scales
    ck = args.checkpoint.with_suffix("") if args.checkpoint.suffix in (".json", ".safetensors") else args.checkpoint
    small, digest = list(SMALL_CAMVID_CLASSES), weights_digest(ck)
    rows = [scale_row(s, cached_or_evaluate(ck, digest, args.data, args.split, s, args.cache_dir), small)
            for s in parse_scales(args.scales)]
    print(f"{args.split} split, {ck.name}, scale relative to the checkpoint's inference scale; mIoU and "
          "small-class IoU (GALD):")
    print(table(rows))
    if args.json:
        from ..io.checkpoint import read_metadata
        measured_at = float((read_metadata(ck).get("inference") or {}).get("scale", 1.0))
        args.json.write_text(json.dumps({"checkpoint": str(ck), "checkpoint_sha256": digest,
                                         "inference_scale_of_checkpoint": measured_at, "data": args.data,
                                         "split": args.split, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
