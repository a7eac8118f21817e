"""The *head protocol* for Table 1 ablations: a frozen pretrained trunk, cached features, many seeds.

    python -m gald.ablation.head_protocol --cache /work/runs/head_cache --out checkpoints/ablations/head \
        [--rows fcn gald ...] [--seeds 0 1 2 3 4] [--iters 300] [--backbone efficientnet_lite0] [--curve-every 0]

Rows differ only in what follows the backbone (reduce, GA, LD, head), so the trunk is frozen: its features
for the train images (at the recipe's scales and flips) and for the val images are computed once and cached
on disk (safetensors, fp16), and each row x seed trains only the modules after it. That isolates the GA / LD
modules at a small fraction of end-to-end cost. Each run writes `OUT/<row>_seed<k>.json` (an evaluation JSON
like gald.evaluate's, main head, full label resolution); runs whose JSON exists are skipped, so an
interrupted protocol resumes row by row. `python -m gald.reports.head_protocol_table` prints the statistics.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..data import LARGE_CAMVID_CLASSES, SMALL_CAMVID_CLASSES, EvalTransform, build_dataset
from ..data.constants import IGNORE_INDEX
from ..evaluation.metrics import BoundaryIoU, ConfusionMatrix, class_map
from ..evaluation.segments import correlation_summary, mask_size_correlation, segment_mask_stats
from ..io.checkpoint import atomic_write_bytes
from ..models import GALDConfig, GALDNet
from ..models.backbones import backbone_normalization, build_backbone
from ..progress import progress
from ..training.engine import make_optimizer, poly_lr_lambda
from ..training.losses import GALDLoss
from .rows import ROWS

BACKBONE, OUTPUT_STRIDE = "efficientnet_lite0", 16
TRAIN_VARIANTS = [(s, flip) for s in (0.75, 1.0, 1.25) for flip in (False, True)]
LOSS_STRIDE = 2  # the loss is computed at half the label resolution (nearest-subsampled labels): 4x cheaper


def _variant_name(split: str, scale: float, flip: bool) -> str:
    return f"{split}_s{scale:g}{'_flip' if flip else ''}"


@torch.no_grad()
def build_cache(data: str, cache: Path, *, backbone: str = BACKBONE) -> None:
    """Frozen ImageNet trunk features (layer4, fp16) and labels for every train variant and for val."""
    from safetensors.torch import save_file

    cache.mkdir(parents=True, exist_ok=True)
    norm = backbone_normalization(backbone)
    trunk = build_backbone(backbone, OUTPUT_STRIDE, pretrained="imagenet").eval()
    jobs = [("train", s, f) for s, f in TRAIN_VARIANTS] + [("val", 1.0, False)]
    for split, scale, flip in jobs:
        path = cache / f"{_variant_name(split, scale, flip)}.safetensors"
        if path.is_file():
            _check_cache_backbone(path, backbone)
            continue
        dataset = build_dataset(data, split, EvalTransform(norm["mean"], norm["std"]))
        feats, labels = [], []
        for image, label in progress(dataset, desc=f"features {path.stem}", unit="img"):
            x = image[None]
            if scale != 1.0:
                x = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
            y = label[None, None].float()
            if split == "train" and scale != 1.0:
                y = F.interpolate(y, size=x.shape[-2:], mode="nearest")
            if flip:
                x, y = x.flip(-1), y.flip(-1)
            feats.append(trunk(x)["layer4"].half()[0])
            labels.append(y[0, 0].to(torch.uint8 if int(y.max()) < 256 else torch.int16))
        tmp = path.with_suffix(".tmp")
        save_file({"features": torch.stack(feats), "labels": torch.stack(labels)}, str(tmp),
                  metadata={"backbone": backbone, "output_stride": str(OUTPUT_STRIDE), "scale": str(scale),
                            "flip": str(flip), "data": data, "split": split})
        os.replace(tmp, path)


def _check_cache_backbone(path: Path, backbone: str) -> None:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        cached = (f.metadata() or {}).get("backbone")
    if cached != backbone:
        raise ValueError(f"{path} holds {cached} features, not {backbone}: give each trunk its own --cache folder")


def load_cache(cache: Path) -> tuple[list[dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
    from safetensors.torch import load_file

    train = [load_file(str(cache / f"{_variant_name('train', s, f)}.safetensors")) for s, f in TRAIN_VARIANTS]
    val = load_file(str(cache / f"{_variant_name('val', 1.0, False)}.safetensors"))
    return train, val


class HeadModel(torch.nn.Module):
    """Everything after the trunk of a GALDNet row (reduce -> arrangement -> head), fed with cached F."""

    def __init__(self, row: str, num_classes: int, backbone: str = BACKBONE) -> None:
        super().__init__()
        overrides = dict(ROWS[row].model)
        if overrides.get("ga", "cgnl") == "cgnl" and "ga_kwargs" not in overrides:
            overrides["ga_kwargs"] = {"structure": "official"}  # as in the bundled model
        cfg = GALDConfig(num_classes=num_classes, backbone=backbone, output_stride=OUTPUT_STRIDE, aux=False,
                         probes=False, **overrides)
        net = GALDNet(cfg)
        del net.backbone  # frozen and cached: not part of what this protocol trains
        self.net = net

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        fused, _ = self.net._aggregate(self.net.reduce(f))
        return self.net.classify(fused, f)


def fit_head(row: str, seed: int, train: list[dict[str, torch.Tensor]], num_classes: int, *, iters: int,
             batch: int = 8, lr: float = 0.01, backbone: str = BACKBONE,
             on_step: Callable[[int, HeadModel], None] | None = None) -> HeadModel:
    """Train one row's head on the cached features; `on_step(i, model)` after each step (learning curves)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = HeadModel(row, num_classes, backbone).train()
    optimizer = make_optimizer(model, lr, 0.9, 1e-4, no_decay_depthwise=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, poly_lr_lambda(iters, 0.9, iters // 20))
    criterion = GALDLoss(aux_weight=0.0)
    for step in range(1, iters + 1):
        variant = train[int(torch.randint(len(train), (1,), generator=gen))]
        idx = torch.randint(variant["features"].shape[0], (batch,), generator=gen)
        f = variant["features"][idx].float()
        target = variant["labels"][idx][:, ::LOSS_STRIDE, ::LOSS_STRIDE].long()
        logits = F.interpolate(model(f), size=target.shape[-2:], mode="bilinear", align_corners=False)
        loss = criterion({"out": logits}, target)["total"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if on_step is not None:
            on_step(step, model)
    return model


def train_row(row: str, seed: int, train: list[dict[str, torch.Tensor]], val: dict[str, torch.Tensor],
              num_classes: int, class_names: list[str], *, iters: int, batch: int = 8, lr: float = 0.01,
              backbone: str = BACKBONE, curve_every: int = 0) -> dict[str, Any]:
    """fit_head + evaluate_head; with `curve_every` > 0 also val mIoU every that many steps (the learning
    curve, evaluation time not counted in train_seconds)."""
    curve: list[list[float]] = []
    eval_s = 0.0

    def record(step: int, model: HeadModel) -> None:
        nonlocal eval_s
        if curve_every and (step % curve_every == 0 or step == iters):
            t = time.perf_counter()
            curve.append([step, evaluate_head(model, val, num_classes, class_names, figures=False)["miou"]])
            model.train()
            eval_s += time.perf_counter() - t

    t0 = time.perf_counter()
    model = fit_head(row, seed, train, num_classes, iters=iters, batch=batch, lr=lr, backbone=backbone,
                     on_step=record)
    train_s = time.perf_counter() - t0 - eval_s
    return {**evaluate_head(model, val, num_classes, class_names), "row": row, "seed": seed, "iters": iters,
            "train_seconds": round(train_s, 1), "config": ROWS[row].model, **({"curve": curve} if curve else {})}


@torch.no_grad()
def evaluate_head(model: HeadModel, val: dict[str, torch.Tensor], num_classes: int, class_names: list[str],
                  *, figures: bool = True) -> dict[str, Any]:
    """mIoU and friends on the cached val features; `figures=False` skips the Fig. 4 masks (learning curves)."""
    model.eval()
    cm, biou = ConfusionMatrix(num_classes), BoundaryIoU(num_classes, (5,))
    masks: list[torch.Tensor] = []
    hook = (model.net.local_distribution.mask_act.register_forward_hook(lambda _m, _i, out: masks.append(out))
            if figures and model.net.config.uses_ld else None)
    correlations = []
    for f, label in zip(val["features"], val["labels"], strict=True):
        target = label.long()[None]
        target[target >= num_classes] = IGNORE_INDEX
        logits = F.interpolate(model(f[None].float()), size=target.shape[-2:], mode="bilinear", align_corners=False)
        pred = class_map(logits)
        cm.update(pred, target)
        biou.update(pred, target, biou.bands(target))
        if masks:  # Fig. 4: does the mask follow pattern size? (as gald/reports/mask_vs_segment.py, per image)
            stats = segment_mask_stats(pred[0].to(torch.uint8).numpy(), masks.pop()[0].mean(0).numpy())
            correlations.append(mask_size_correlation(stats))
    if hook is not None:
        hook.remove()
    r = cm.compute()
    per_class = dict(zip(class_names, r["per_class_iou"], strict=True))

    def mean_of(names):
        vals = [per_class[c] for c in names if c in per_class and not math.isnan(per_class[c])]
        return sum(vals) / len(vals) if vals else float("nan")

    return {"miou": r["miou"], "pixel_accuracy": r["pixel_accuracy"], "per_class_iou": per_class,
            "small_miou": mean_of(SMALL_CAMVID_CLASSES), "large_miou": mean_of(LARGE_CAMVID_CLASSES),
            "boundary_iou_5": biou.compute()["5"], "num_images": int(val["features"].shape[0]),
            **({"mask_vs_size": correlation_summary(correlations)} if correlations else {})}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gald.ablation.head_protocol", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="camvid:../shared/data/camvid")
    p.add_argument("--cache", type=Path, required=True, help="feature cache folder (keep it outside the work tree)")
    p.add_argument("--out", type=Path, default=Path("checkpoints/ablations/head"))
    p.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--iters", type=int, default=300)
    p.add_argument("--backbone", default=BACKBONE, help="the frozen ImageNet trunk (its own --cache folder)")
    p.add_argument("--curve-every", type=int, default=0, help="val mIoU every N steps into the JSON (0: none)")
    args = p.parse_args(argv)
    build_cache(args.data, args.cache, backbone=args.backbone)
    train, val = load_cache(args.cache)
    probe = build_dataset(args.data, "val")
    class_names, num_classes = list(probe.class_names), probe.num_classes
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:  # seed-major: a partial protocol still has every row at the first seeds
        for row in args.rows:
            path = args.out / f"{row}_seed{seed}.json"
            if path.is_file():
                continue
            result = train_row(row, seed, train, val, num_classes, class_names, iters=args.iters,
                               backbone=args.backbone, curve_every=args.curve_every)
            result["protocol"] = {"name": "head", "backbone": f"{args.backbone} (ImageNet, frozen)",
                                  "output_stride": OUTPUT_STRIDE, "train_variants": TRAIN_VARIANTS,
                                  "loss_stride": LOSS_STRIDE, "data": args.data}
            atomic_write_bytes(path, (json.dumps(result, indent=1) + "\n").encode())  # resume skips existing JSONs
            print(f"{row} seed {seed}: val mIoU {100 * result['miou']:.1f} ({result['train_seconds']:.0f} s)",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
