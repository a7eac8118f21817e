"""Does a GA's global statistic survive? Train head-protocol rows (one seed), then measure on each CGNL:

    .venv/bin/python -m gald.reports.ga_statistic --cache /work/runs/head_cache [--rows ga ga_layernorm]
        [--data camvid:../shared/data/camvid] [--seed 0] [--iters 300] [--limit 20] [--json OUT]

(a) sign-only: ||F_GA(sign(a)) - F_GA(a)|| / ||F_GA(a)|| with a = sum(p*g) per group, on val features (median,
    max over images): how much of |a| reaches the output;
(b) gradients: ||dL/dW|| / ||W|| of t, p, g, z for one backward of (F_GA * r).sum() (fixed random r) in train
    mode on a batch of 8 train features, and |a| sigma / sqrt(eps) (>> 1: GroupNorm keeps only sign(a));
(c) reach: replace the right half of a val image by another image's (as gald.reports.ga_reach), recompute the
    frozen trunk, and measure the relative change of F and F_GA in the left quarter (median over images).
Rows are trained exactly as `gald.ablation.head_protocol` trains them (same seed: the same run as its JSON).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import torch

from ..ablation.head_protocol import BACKBONE, OUTPUT_STRIDE, evaluate_head, fit_head, load_cache
from ..ablation.rows import ROWS
from ..data import EvalTransform, build_dataset
from ..models.backbones import backbone_normalization, build_backbone
from ..models.global_aggregation.cgnl_probe import relative_gradients, sign_only_change, statistic_regime
from .ga_reach import relative_change


@torch.no_grad()
def _reach(model, trunk, dataset, limit: int) -> dict[str, float]:
    changes: dict[str, list[float]] = {"F": [], "F_GA": []}
    n = min(limit, len(dataset))
    for i in range(n):
        image = dataset[i][0][None]
        other = dataset[(i + n // 2 + 1) % len(dataset)][0][None]
        perturbed = image.clone()
        perturbed[..., image.shape[-1] // 2:] = other[..., image.shape[-1] // 2:]
        fa, fb = trunk(image)["layer4"], trunk(perturbed)["layer4"]
        cols = slice(0, max(fa.shape[-1] // 4, 1))
        changes["F"].append(relative_change(fa, fb, cols))
        ga_a, ga_b = (model.net.context(model.net.reduce(f)) for f in (fa, fb))
        changes["F_GA"].append(relative_change(ga_a, ga_b, cols))
    return {k: statistics.median(v) for k, v in changes.items()}


def measure_row(row: str, seed: int, iters: int, train, val, trunk, dataset, limit: int,
                class_names: list[str]) -> dict[str, Any]:
    model = fit_head(row, seed, train, len(class_names), iters=iters).eval()
    scores = evaluate_head(model, val, len(class_names), class_names, figures=False)
    result: dict[str, Any] = {"row": row, "seed": seed, "iters": iters, "config": ROWS[row].model,
                              "val_miou": scores["miou"]}
    cgnl = model.net.context
    with torch.no_grad():
        reduced_val = [model.net.reduce(f[None].float()) for f in val["features"][:limit]]
        signs = [sign_only_change(cgnl, x) for x in reduced_val]
        batch = model.net.reduce(train[2]["features"][:8].float())  # scale 1, no flip
    result["sign_only_change"] = {"median": statistics.median(signs), "max": max(signs)}
    result["regime"] = statistic_regime(cgnl, batch)
    result["relative_gradients"] = {loss: relative_gradients(cgnl, batch, loss=loss)
                                    for loss in ("direction", "square")}
    result["reach"] = _reach(model, trunk, dataset, limit)
    return result


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| row | val mIoU | sign-only change of F_GA, median (max) | abs(a) sigma / sqrt(eps) | "
             "grad/weight t, p, g, z | p / t | reach: change of F_GA (F) |", "|---|---|---|---|---|---|---|"]
    for r in results:
        g = r["relative_gradients"]["direction"]
        s = r["sign_only_change"]
        lines.append(f"| {r['row']} | {100 * r['val_miou']:.1f} | {100 * s['median']:.3g}% ({100 * s['max']:.3g}%) | "
                     f"{r['regime']:.2g} | " + ", ".join(f"{g[k]:.2g}" for k in ("t", "p", "g", "z"))
                     + f" | {g['p'] / g['t']:.2g} | {100 * r['reach']['F_GA']:.2f}% ({100 * r['reach']['F']:.2f}%) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, required=True, help="the head protocol's feature cache (Lite0)")
    ap.add_argument("--data", default="camvid:../shared/data/camvid")
    ap.add_argument("--rows", nargs="+", default=["ga", "ga_layernorm"], choices=list(ROWS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--limit", type=int, default=20, help="val images for (a) and (c)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    train, val = load_cache(args.cache)
    norm = backbone_normalization(BACKBONE)
    dataset = build_dataset(args.data, "val", EvalTransform(norm["mean"], norm["std"]))
    trunk = build_backbone(BACKBONE, OUTPUT_STRIDE, pretrained="imagenet").eval()
    results = [measure_row(row, args.seed, args.iters, train, val, trunk, dataset, args.limit,
                           list(dataset.class_names)) for row in args.rows]
    if args.json:
        args.json.write_text(json.dumps({"cache_backbone": BACKBONE, "data": args.data, "results": results},
                                        indent=1) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
