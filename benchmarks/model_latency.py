"""CPU forward latency of GALDNet at 1x3x360x480, and the share of latency and FLOPs spent in GA and LD.

    python -m benchmarks.model_latency [--backbones resnet18,resnet50] [--runs 10] [--threads 2]
    python -m benchmarks.model_latency --checkpoint checkpoints/galdnet_lite2_camvid   # the bundled model

The paper presents LD as a light add-on to GA; this prints how light it is here. Module times come
from forward pre/post hooks (wall time inside each module, so LD's time includes its sigmoid, upsampling
and element-wise product and sum), FLOPs from torch.utils.flop_counter (convolutions and matmuls), plus an
analytic count of LD's element-wise and upsampling work, which the counter does not see. Both probe heads
are timed separately. With --checkpoint the model and its inference scale come from the checkpoint.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

import gald

PARTS = {"backbone": "backbone", "reduce": "reduce", "GA": "context", "LD": "local_distribution",
         "head": "head", "FCN probe": "fcn_probe", "GA probe": "ga_probe"}
# bilinear upsampling: 4 products and 3 sums per output element; sigmoid ~4 operations (exp, add, divide)
UPSAMPLE_FLOPS, SIGMOID_FLOPS = 7, 4


def ld_elementwise_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    """LD work the FLOP counter misses: upsampling the coarse map, the sigmoid, M * F_GA and + F_GA."""
    seen = {}

    def record(_module, _inputs, output) -> None:  # returning a value would replace the output
        seen["shape"] = output.shape

    handle = model.local_distribution.register_forward_hook(record)
    with torch.inference_mode():
        model(x)
    handle.remove()
    n = seen["shape"].numel()
    return n * (UPSAMPLE_FLOPS + SIGMOID_FLOPS + 2)


def present_parts(model: torch.nn.Module) -> dict[str, str]:
    names = {n for n, _ in model.named_children()}
    return {label: name for label, name in PARTS.items() if name in names}


def module_times(model: torch.nn.Module, x: torch.Tensor, runs: int) -> tuple[list[float], dict[str, float]]:
    parts = present_parts(model)
    spent: dict[str, float] = {k: 0.0 for k in parts}
    starts: dict[str, float] = {}
    handles = []
    for label, name in parts.items():
        mod = model.get_submodule(name)
        handles.append(mod.register_forward_pre_hook(lambda *_, k=label: starts.__setitem__(k, time.perf_counter())))
        handles.append(mod.register_forward_hook(
            lambda *_, k=label: spent.__setitem__(k, spent[k] + time.perf_counter() - starts[k])))
    totals = []
    with torch.inference_mode():
        model(x)  # warm-up (allocator, oneDNN primitive caches)
        for v in spent:
            spent[v] = 0.0
        for _ in range(runs):
            t = time.perf_counter()
            model(x)
            totals.append(time.perf_counter() - t)
    for h in handles:
        h.remove()
    return totals, {k: v / runs for k, v in spent.items()}


def module_flops(model: torch.nn.Module, x: torch.Tensor) -> tuple[int, dict[str, int]]:
    counter = FlopCounterMode(display=False, depth=None)
    with torch.inference_mode(), counter:
        model(x)
    per_module = counter.get_flop_counts()
    total = counter.get_total_flops()
    out = {}
    for label, name in present_parts(model).items():
        key = next((k for k in per_module if k.split(".", 1)[-1] == name or k.endswith("." + name)), None)
        out[label] = sum(per_module[key].values()) if key else 0
    return total, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbones", default="resnet18,resnet50")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--size", default="360x480")
    ap.add_argument("--checkpoint", help="time this checkpoint (at its inference scale of --size) instead")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    h, w = map(int, args.size.split("x"))
    models = []
    if args.checkpoint:
        model, meta = gald.load_checkpoint(args.checkpoint)
        scale = float((meta.get("inference") or {}).get("scale", 1.0))
        models.append((args.checkpoint, model.eval(), (round(h * scale), round(w * scale))))
    else:
        for backbone in args.backbones.split(","):
            models.append((backbone, gald.build_model(num_classes=11, backbone=backbone, aux=False).eval(), (h, w)))
    print(f"torch {torch.__version__}, {args.threads} threads, fp32, median of {args.runs} runs")
    for backbone, model, (ih, iw) in models:
        x = torch.randn(1, 3, ih, iw)
        totals, parts = module_times(model, x, args.runs)
        total_flops, flops = module_flops(model, x)
        med = statistics.median(totals)
        print(f"\n{backbone} GALDNet (mid {model.config.mid_channels} ch, input 1x3x{ih}x{iw}): "
              f"median {med * 1000:.0f} ms (min {min(totals) * 1000:.0f}), {total_flops / 1e9:.1f} GFLOPs")
        print(f"  {'part':<12}{'ms':>8}{'latency %':>11}{'GFLOPs':>9}{'FLOPs %':>9}")
        mean_total = sum(totals) / len(totals)
        for label in parts:
            print(f"  {label:<12}{parts[label] * 1000:>8.1f}{100 * parts[label] / mean_total:>10.1f}%"
                  f"{flops[label] / 1e9:>9.2f}{100 * flops[label] / total_flops:>8.2f}%")
        ld_extra = ld_elementwise_flops(model, x)
        print(f"  LD element-wise + upsampling (analytic, not in the counter): {ld_extra / 1e6:.2f} MFLOPs "
              f"({100 * ld_extra / total_flops:.3f}% of the counted FLOPs)")
        n_ld = sum(p.numel() for p in model.local_distribution.parameters())
        print(f"  LD parameters: {n_ld} ({100 * n_ld / sum(p.numel() for p in model.parameters()):.3f}% of the model)")


if __name__ == "__main__":
    main()
