"""Plan Table 1's two protocols on this machine: time one training step of each row, then print what the
whole table costs and whether it fits a budget.

    .venv/bin/python -m benchmarks.protocol_plan [--hours 3] [--head-iters 300] [--e2e-config CONFIG]
        [--head-backbone efficientnet_lite2 --head-rows fcn ga ... --head-only]

Head protocol (`gald.ablation.head_protocol`): every row's modules after the frozen trunk on batch-8 feature maps of a
480x360 image at output stride 16 (23x30, the shape the cache holds at scale 1), loss at half label resolution.
End-to-end protocol (`gald.ablation.end_to_end`): the whole model of the e2e config on batch-8 crops (random
data, so no weights are needed). Evaluation is timed as a forward pass over one val-sized input, times 101.
Steps are timed after one warm-up step; the median of `--steps` is used.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from gald.ablation.head_protocol import BACKBONE, LOSS_STRIDE, OUTPUT_STRIDE, HeadModel
from gald.ablation.rows import CORE_ROWS, ROWS
from gald.io.config_file import load_config
from gald.models import GALDConfig, GALDNet
from gald.models.backbones import build_backbone
from gald.training.engine import make_optimizer
from gald.training.losses import GALDLoss

ROOT = Path(__file__).resolve().parents[1]

NUM_CLASSES, VAL_IMAGES, FEATURE_HW, IMAGE_HW = 11, 101, (23, 30), (360, 480)


def _median_step(model: torch.nn.Module, make_batch, steps: int) -> float:
    optimizer = make_optimizer(model, 0.01, 0.9, 1e-4, no_decay_depthwise=True)
    criterion = GALDLoss(aux_weight=0.0)
    times = []
    for i in range(steps + 1):
        x, target = make_batch()
        t0 = time.perf_counter()
        out = model(x)
        logits = out["out"] if isinstance(out, dict) else out
        logits = F.interpolate(logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
        loss = criterion({"out": logits}, target)["total"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if i:  # the first step pays allocation and kernel selection
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


@torch.no_grad()
def _eval_seconds(model: torch.nn.Module, x: torch.Tensor) -> float:
    model.eval()
    model(x)
    t0 = time.perf_counter()
    model(x)
    model.train()
    return (time.perf_counter() - t0) * VAL_IMAGES


def head_plan(iters: int, steps: int, backbone: str = BACKBONE, rows: list[str] | None = None,
              curve_every: int = 0) -> dict[str, float]:
    h, w = FEATURE_HW
    channels = build_backbone(backbone, OUTPUT_STRIDE).out_channels["layer4"]
    out = {}
    for row in rows or list(ROWS):
        model = HeadModel(row, NUM_CLASSES, backbone).train()
        step = _median_step(model, lambda: (torch.randn(8, channels, h, w), torch.randint(
            0, NUM_CLASSES, (8, IMAGE_HW[0] // LOSS_STRIDE, IMAGE_HW[1] // LOSS_STRIDE))), steps)
        evals = 1 + (iters // curve_every if curve_every else 0)  # the final evaluation and the curve's
        out[row] = iters * step + evals * _eval_seconds(model, torch.randn(1, channels, h, w))
    return out


def e2e_plan(config: str, steps: int) -> tuple[dict[str, float], int]:
    cfg = load_config(config, [])
    crop, iters = cfg["data"]["crop_size"], cfg["optim"]["iters"]
    out = {}
    for row in CORE_ROWS:
        model = GALDNet(GALDConfig.from_dict({**cfg["model"], **ROWS[row].model, "num_classes": NUM_CLASSES})).train()
        step = _median_step(model, lambda: (torch.randn(8, 3, *crop), torch.randint(0, NUM_CLASSES, (8, *crop))),
                            steps)
        out[row] = iters * step + _eval_seconds(model, torch.randn(1, 3, *IMAGE_HW))
    return out, iters


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=float, default=3.0, help="the CPU time you have for both protocols")
    ap.add_argument("--head-iters", type=int, default=300)
    ap.add_argument("--head-seeds", type=int, default=5)
    ap.add_argument("--e2e-config", default="configs/camvid_e2e_protocol.yaml")
    ap.add_argument("--e2e-seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per row (after one warm-up)")
    ap.add_argument("--head-backbone", default=BACKBONE)
    ap.add_argument("--head-rows", nargs="+", choices=list(ROWS), help="default: every row")
    ap.add_argument("--head-curve-every", type=int, default=0, help="as gald.head_protocol --curve-every")
    ap.add_argument("--head-only", action="store_true", help="plan the head protocol alone")
    args = ap.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    head = head_plan(args.head_iters, args.steps, args.head_backbone, args.head_rows, args.head_curve_every)
    for row, sec in head.items():
        print(f"head  {row:<20s} {sec:6.0f} s per run ({args.head_iters} iterations + val, {args.head_backbone})")
    if args.head_only:
        total = args.head_seeds * sum(head.values())
        verdict = "fits" if total <= args.hours * 3600 else "does NOT fit"
        print(f"head protocol: {len(head)} rows x {args.head_seeds} seeds = {total / 60:.0f} min, {verdict} the "
              f"{args.hours:g} h budget (feature cache not included; a busy machine adds to this)")
        return
    e2e, e2e_iters = e2e_plan(args.e2e_config, args.steps)
    for row, sec in e2e.items():
        print(f"e2e   {row:<20s} {sec:6.0f} s per run ({e2e_iters} iterations + val)")
    head_total, e2e_total = args.head_seeds * sum(head.values()), args.e2e_seeds * sum(e2e.values())
    total = head_total + e2e_total
    print(f"head protocol: {len(head)} rows x {args.head_seeds} seeds = {head_total / 60:.0f} min")
    print(f"end-to-end protocol: {len(e2e)} rows x {args.e2e_seeds} seeds = {e2e_total / 60:.0f} min")
    verdict = "fits" if total <= args.hours * 3600 else "does NOT fit"
    print(f"both: {total / 3600:.2f} h of this machine, {verdict} the {args.hours:g} h budget "
          "(data loading and a busy machine add to this)")


if __name__ == "__main__":
    main()
