"""How much gradient reaches CGNL's attention (p, g) compared with t and z, for any checkpoint with a CGNL.

    .venv/bin/python -m gald.reports.cgnl_gradients [--checkpoint checkpoints/galdnet_lite2_camvid]
        [--data camvid:../shared/data/camvid] [--split val] [--images 4] [--json OUT]

The CGNL's input is captured on `--images` images of the split (at the checkpoint's inference scale, eval
mode); then one backward in train mode of (out * r).sum() (fixed random r: a loss on the output's direction)
and of (out ** 2).mean(), and ||dL/dW|| / ||W|| per convolution. Also |a| sigma / sqrt(eps) (>> 1: GroupNorm
keeps only sign(a) of the statistic a = sum(p*g), and dL/da ~ eps) and the relative change of the CGNL's output
when a is replaced by sign(a). Derivation: docs/architecture.md ("Why CGNL's attention does not learn").
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..io.checkpoint import load_checkpoint
from ..models.global_aggregation import CGNL
from ..models.global_aggregation.cgnl_probe import BRANCHES, relative_gradients, sign_only_change, statistic_regime


def capture_input(model: torch.nn.Module, module: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    captured: list[torch.Tensor] = []
    hook = module.register_forward_hook(lambda _m, inputs, _out: captured.append(inputs[0].detach()))
    try:
        with torch.no_grad():
            model.eval()(images)
    finally:
        hook.remove()
    return captured[0]


def measure(checkpoint: str, data: str, split: str, n_images: int) -> dict[str, Any]:
    from ..data import EvalTransform, build_dataset

    model, meta = load_checkpoint(checkpoint)
    modules = [(name, m) for name, m in model.named_modules() if isinstance(m, CGNL)]
    if not modules:
        raise SystemExit(f"{checkpoint} has no CGNL module (GA {model.config.ga!r}, {model.config.arrangement})")
    norm = meta["normalization"]
    dataset = build_dataset(data, split, EvalTransform(norm["mean"], norm["std"]))
    scale = float((meta.get("inference") or {}).get("scale", 1.0))
    images = torch.cat([dataset[i][0][None] for i in range(min(n_images, len(dataset)))])
    if scale != 1.0:
        images = F.interpolate(images, scale_factor=scale, mode="bilinear", align_corners=False)
    out: dict[str, Any] = {"checkpoint": str(checkpoint), "images": int(images.shape[0]), "split": split,
                           "inference_scale": scale, "modules": {}}
    for name, module in modules:
        x = capture_input(model, module, images)
        module.eval()
        out["modules"][name] = {
            "structure": module.structure, "norm": module.norm, "groups": module.groups,
            "regime_median": statistic_regime(module, x), "sign_only_change": sign_only_change(module, x),
            "relative_gradients": {loss: relative_gradients(module, x, loss=loss) for loss in ("direction", "square")}}
    return out


def table(result: dict[str, Any]) -> str:
    lines = ["| module | norm | loss | " + " | ".join(f"grad/weight {b}" for b in BRANCHES) + " | p / t | g / z |",
             "|---|---|---|" + "---|" * (len(BRANCHES) + 2)]
    for name, m in result["modules"].items():
        for loss, r in m["relative_gradients"].items():
            lines.append(f"| {name} | {m['norm']} | {loss} | " + " | ".join(f"{r[b]:.2g}" for b in BRANCHES)
                         + f" | {r['p'] / r['t']:.2g} | {r['g'] / r['z']:.2g} |")
    for name, m in result["modules"].items():
        lines.append(f"\n{name}: |a| sigma / sqrt(eps) = {m['regime_median']:.3g} (median over images and groups); "
                     f"replacing a by sign(a) changes the module's output by {100 * m['sign_only_change']:.3g}%.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="checkpoints/galdnet_lite2_camvid")
    ap.add_argument("--data", default="camvid:../shared/data/camvid")
    ap.add_argument("--split", default="val")
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    result = measure(args.checkpoint, args.data, args.split, args.images)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{result['checkpoint']} on {result['images']} {result['split']} images "
          f"(scale {result['inference_scale']:g}):\n")
    print(table(result))


if __name__ == "__main__":
    main()
