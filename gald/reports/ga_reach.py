"""What does the GA module really aggregate? Perturb a far-away image region, measure F_GA at fixed pixels.

    .venv/bin/python -m gald.reports.ga_reach [--checkpoint checkpoints/galdnet_lite2_camvid]
        [--data camvid:../shared/data/camvid] [--split val] [--limit 20] [--json gald/reports/ga_reach.json]

For each image, the right half (columns >= W/2) is replaced by the right half of another image of the split;
at every feature pixel of the left quarter (at least 3/8 of the image width away from the perturbed region)
we measure the relative change |x' - x| / |x| of the backbone feature F, of F_GA and of F_GALD. A GA module
that aggregates global context changes F_GA there far more than F changes; one that does not, does not.

Two controls on the same trained model: the CGNL with its per-group statistic sum(p*g) replaced by its sign
(GroupNorm cancels the rest, tests/core/test_cgnl.py), and untrained GA modules of every kind applied to the
trained model's reduced feature (random init: their structural reach, not what training made of them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm


def relative_change(a: torch.Tensor, b: torch.Tensor, cols: slice) -> float:
    """Median over the pixels in `cols` of |a - b| / |a| (channel norms), for one (1, C, h, w) pair."""
    a, b = a[0, :, :, cols], b[0, :, :, cols]
    return float(((a - b).norm(dim=0) / a.norm(dim=0).clamp_min(1e-6)).median())


@contextlib.contextmanager
def cgnl_sign_only(model: torch.nn.Module):
    """Replace CGNL's per-group statistic by its sign, for the duration."""
    from ..models.global_aggregation import CGNL

    modules = [m for m in model.modules() if isinstance(m, CGNL)]
    originals = [m.aggregate for m in modules]

    def make(m: CGNL):
        def aggregate(x: torch.Tensor) -> torch.Tensor:
            b, _, h, w = x.shape
            t, p, g = (v.float().reshape(b, m.groups, -1) for v in (m.t(x), m.p(x), m.g(x)))
            att = torch.sign((p * g).sum(-1, keepdim=True))
            return m.gn(m.z((att * t).reshape(b, -1, h, w).to(x.dtype)))
        return aggregate

    for m in modules:
        m.aggregate = make(m)
    try:
        yield bool(modules)
    finally:
        for m, orig in zip(modules, originals, strict=True):
            m.aggregate = orig


def untrained_modules(channels: int, output_stride: int) -> dict[str, torch.nn.Module]:
    from ..models.global_aggregation import GA_MODULES, build_context

    torch.manual_seed(0)
    out = {}
    for name in sorted(GA_MODULES):
        kwargs = {"output_stride": output_stride} if name == "aspp" else {}
        module = build_context(name, channels, **kwargs).eval()
        for sub in module.modules():  # CGNL / NL start as identity (zero gamma): give them a unit gain
            if isinstance(sub, torch.nn.GroupNorm | torch.nn.BatchNorm2d) and not sub.weight.abs().sum():
                torch.nn.init.ones_(sub.weight)
        out[name] = module
    return out


@torch.no_grad()
def measure(checkpoint: str, data: str, split: str, limit: int) -> dict[str, Any]:
    import gald

    from ..data import EvalTransform, build_dataset
    from ..evaluation.inference import Preprocessing

    model, meta = gald.load_checkpoint(checkpoint)
    model.eval()
    cfg = model.config
    if not cfg.uses_ga:
        raise SystemExit(f"{checkpoint} has no GA module")
    pre = Preprocessing.from_metadata(meta)
    dataset = build_dataset(data, split, EvalTransform(pre.mean, pre.std))
    scale = pre.scale
    n = min(limit, len(dataset))
    rows: dict[str, list[float]] = {}
    controls = untrained_modules(cfg.mid_channels, cfg.output_stride)

    def add(key: str, value: float) -> None:
        rows.setdefault(key, []).append(value)

    sign_deltas = []
    for i in tqdm(range(n), desc="images", mininterval=5):
        image = dataset[i][0][None]
        other = dataset[(i + n // 2 + 1) % len(dataset)][0][None]
        if scale != 1.0:
            image, other = (F.interpolate(t, scale_factor=scale, mode="bilinear", align_corners=False)
                            for t in (image, other))
        perturbed = image.clone()
        w = image.shape[-1]
        perturbed[..., w // 2:] = other[..., w // 2:]
        a, b = gald.stage_outputs(model, image), gald.stage_outputs(model, perturbed)
        cols = slice(0, max(a["F"].shape[-1] // 4, 1))
        for stage in ("F", "F_GA", "F_GALD"):
            if stage in a:
                add(stage, relative_change(a[stage], b[stage], cols))
        reduced_a, reduced_b = model.reduce(a["F"]), model.reduce(b["F"])
        add("reduce(F)", relative_change(reduced_a, reduced_b, cols))
        for name, module in controls.items():
            add(f"untrained {name}", relative_change(module(reduced_a), module(reduced_b), cols))
        with cgnl_sign_only(model) as has_cgnl:
            if has_cgnl:
                s = gald.stage_outputs(model, image)
                sign_deltas.append(float((s["F_GA"] - a["F_GA"]).norm() / a["F_GA"].norm()))
                sb = gald.stage_outputs(model, perturbed)
                add("F_GA, CGNL sign-only", relative_change(s["F_GA"], sb["F_GA"], cols))
    summary = {k: {"median": float(np.median(v)), "p25": float(np.percentile(v, 25)),
                   "p75": float(np.percentile(v, 75))} for k, v in rows.items()}
    return {"checkpoint": str(checkpoint), "data": data, "split": split, "images": n,
            "ga": cfg.ga, "ga_kwargs": cfg.ga_kwargs, "backbone": cfg.backbone, "output_stride": cfg.output_stride,
            "inference_scale": scale, "relative_change_left_quarter": summary,
            "cgnl_sign_only_change_of_F_GA": (
                {"median": float(np.median(sign_deltas)), "max": float(np.max(sign_deltas))} if sign_deltas else None)}


def table(result: dict[str, Any]) -> str:
    lines = ["| feature | relative change in the left quarter, median (quartiles) |", "|---|---|"]
    for key, r in result["relative_change_left_quarter"].items():
        lines.append(f"| {key} | {100 * r['median']:.2f}% ({100 * r['p25']:.2f}-{100 * r['p75']:.2f}%) |")
    sign = result.get("cgnl_sign_only_change_of_F_GA")
    if sign:
        lines.append(f"\nCGNL with sum(p*g) replaced by its sign changes F_GA by {100 * sign['median']:.3f}% "
                     f"(median over images, max {100 * sign['max']:.3f}%).")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="checkpoints/galdnet_lite2_camvid")
    ap.add_argument("--data", default="camvid:../shared/data/camvid")
    ap.add_argument("--split", default="val")
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--json", type=Path, help="write the result here (the model card reads it)")
    args = ap.parse_args()
    result = measure(args.checkpoint, args.data, args.split, args.limit)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{result['checkpoint']} ({result['backbone']} OS{result['output_stride']}, GA {result['ga']} "
          f"{result['ga_kwargs'] or ''}) on {result['images']} {result['split']} images; right half replaced "
          "by another image's:\n")
    print(table(result))


if __name__ == "__main__":
    main()
