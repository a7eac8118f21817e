"""Peak RSS growth of one network operation in a fresh process (the per-megapixel figures of app/budget.py):
`python -m benchmarks.budget_probe {forward,gradcam,gradcam-trainable,ig} HEIGHT WIDTH [--checkpoint CK]`.

forward: the analysis pass (torch.inference_mode, gald.stage_outputs); gradcam: app.attribution as the app
runs it (parameters frozen); gradcam-trainable: the same with trainable parameters (what the app did
before); ig: one Integrated Gradients step per pass (2 steps). Prints base RSS, peak, growth and seconds.
"""

from __future__ import annotations

import argparse
import gc
import threading
import time
from pathlib import Path

import psutil
import torch

import gald
from app import DEFAULT_CHECKPOINT, attribution

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("op", choices=["forward", "gradcam", "gradcam-trainable", "ig"])
    parser.add_argument("height", type=int)
    parser.add_argument("width", type=int)
    parser.add_argument("--checkpoint", default=str(REPO / DEFAULT_CHECKPOINT))
    args = parser.parse_args()
    model, _ = gald.load_checkpoint(args.checkpoint)
    model.eval()
    x = torch.randn(1, 3, args.height, args.width)
    ps, peak, stop = psutil.Process(), [0], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], ps.memory_info().rss)
            time.sleep(0.02)

    gc.collect()
    base = ps.memory_info().rss
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    if args.op == "forward":
        with torch.inference_mode():
            gald.stage_outputs(model, x, ld_enabled=True, ld_off_logits=True, upsample_logits=False)
    elif args.op == "gradcam-trainable":  # captum's GradCAM without freezing (a loaded model's parameters train)
        from captum.attr import LayerGradCam

        with torch.enable_grad(), gald.models.probe_gradients(model):
            scorer = attribution.ClassScore(model, "gald")
            LayerGradCam(scorer, model.get_submodule(attribution.GRADCAM_LAYER)).attribute(x, target=0)
    else:
        attribution.attribute(model, x, "gald", 0, method=args.op, n_steps=2)
    seconds = time.perf_counter() - t0
    stop.set()
    sampler.join()
    mp = args.height * args.width / 1e6
    print(f"{args.op} {args.height}x{args.width} ({mp:.2f} MP): base {base / 2**20:.0f} MB, peak "
          f"{peak[0] / 2**20:.0f} MB, growth {(peak[0] - base) / 2**20:.0f} MB "
          f"({(peak[0] - base) / 2**20 / mp:.0f} MB/MP), {seconds:.1f} s")


if __name__ == "__main__":
    main()
