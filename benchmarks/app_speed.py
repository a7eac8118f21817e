"""GALD Studio speed on this machine: full analysis, channel-slider update, GradCAM (median / p90).

    .venv/bin/python benchmarks/app_speed.py [--checkpoint PATH] [--runs 10] [--image app/examples/...png]
                                             [--no-server]

Uses the bundled checkpoint when it exists, else a random ResNet-18 GALDNet at inference scale 0.5
(same shapes and cost; it says which). Python-level timings call the same functions as the UI
(`app.views`, `Predictor`); unless --no-server, the `analyze` and `channel` endpoints are also timed
end to end through gradio_client against an in-process server (adds PNG encoding and transfer).
Targets (2-core CPU): analysis <= 1.0 s (handler) and <= 0.5 s (end to end), channel update <= 0.1 s, GradCAM <= 3 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

TARGETS = {"analysis": 1.0, "analysis_e2e": 0.5, "channel": 0.1, "gradcam": 3.0, "pixel": 0.2}


def summarise(name: str, seconds: list[float], target: float | None = None) -> str:
    med, p90 = float(np.median(seconds)), float(np.percentile(seconds, 90))
    verdict = "" if target is None else ("  OK" if med <= target else f"  OVER target {target:g} s")
    return f"{name:<48s} median {med:7.3f} s   p90 {p90:7.3f} s   (n={len(seconds)}){verdict}"


def timed(wall: list[float], cpu: list[float], fn, *args):
    """Call fn(*args); append its wall-clock and process CPU seconds (CPU time is what the work costs; wall
    time on a shared machine also counts the waits for a core)."""
    t, c = time.perf_counter(), time.process_time()
    out = fn(*args)
    wall.append(time.perf_counter() - t)
    cpu.append(time.process_time() - c)
    return out


def random_checkpoint(folder: Path) -> Path:
    import torch

    import gald
    from gald.data.constants import CAMVID_CLASSES, CAMVID_PALETTE, IMAGENET_MEAN, IMAGENET_STD

    torch.manual_seed(0)
    model = gald.build_model(num_classes=11, backbone="resnet18", arrangement="gald").eval()
    meta = {"class_names": CAMVID_CLASSES, "palette": [list(c) for c in CAMVID_PALETTE],
            "normalization": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}, "inference": {"scale": 0.5}}
    gald.save_checkpoint(folder / "random_r18", model, meta)
    return folder / "random_r18"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=os.environ.get("GALD_CHECKPOINT", "checkpoints/galdnet_lite2_camvid"))
    ap.add_argument("--image", default=str(ROOT / "app/examples/camvid_0016E5_08101.png"))
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--no-server", action="store_true", help="skip the end-to-end gradio_client timings")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: the usable core count)")
    args = ap.parse_args()

    import torch

    from app import views
    from app.image_io import load_image, load_label
    from app.inference import Predictor, cpu_count
    from app.picture_store import PictureStore
    from gald.io.checkpoint import checkpoint_paths

    ckpt = Path(args.checkpoint)
    if not ckpt.is_absolute():
        ckpt = ROOT / ckpt
    tmp = Path(tempfile.mkdtemp(prefix="gald_bench_"))
    if checkpoint_paths(ckpt)[1].is_file():
        which = f"checkpoint {ckpt}"
    else:
        ckpt = random_checkpoint(tmp)
        which = f"RANDOM ResNet-18 GALDNet at inference scale 0.5 ({args.checkpoint} not found)"
    t0 = time.perf_counter()
    pred = Predictor.from_checkpoint(ckpt)
    load_s = time.perf_counter() - t0
    if args.threads:
        torch.set_num_threads(args.threads)
    image = load_image(args.image)
    label_path = Path(args.image).with_name(Path(args.image).stem + "_label.png")
    label = (load_label(label_path, num_classes=pred.num_classes, palette=pred.palette, image_size=image.size)
             if label_path.is_file() else None)
    h, w = image.rgb.shape[:2]
    print(f"GALD Studio speed | {which}\n  {pred.description}\n  image {Path(args.image).name} {w}x{h}"
          f"{' + ground truth' if label is not None else ''} | torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {cpu_count()} usable cores | checkpoint load {load_s:.2f} s")
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"  WARNING: load average {load:.1f} before starting: other processes share the CPU, so these "
              "timings are pessimistic (OpenMP threads wait on busy cores)")

    from app.handlers import make_handlers

    label_arg = str(label_path) if label is not None else None
    make_handlers(pred, PictureStore(tmp / "warm")).analyze(args.image, label_arg, 0.6, 7)  # warm-up
    net, full, handler, first, details, masks, scores = [], [], [], [], [], [], []
    cpu = {"handler": [], "first": [], "details": [], "masks": [], "scores": []}  # process CPU seconds
    for i in range(args.runs):
        pred._cache.clear()
        t = time.perf_counter()
        out = views.full_analysis(pred, image.rgb, label, alpha=0.6, channel=7)
        full.append(time.perf_counter() - t)
        net.append(out["analysis"].seconds)
        pred._cache.clear()
        handlers = make_handlers(pred, PictureStore(tmp / f"png{i}"))  # empty store: every picture is encoded
        result = timed(handler, cpu["handler"], handlers.analyze, args.image, label_arg, 0.6, 7)
        pred._cache.clear()
        handlers = make_handlers(pred, PictureStore(tmp / f"first{i}"))
        # the browser's steps: stage row, then the rest of the Stages tab, then a lazy tab when it is opened
        step = timed(first, cpu["first"], handlers.analyze_stages, args.image, label_arg, 0.6, 7)
        timed(details, cpu["details"], handlers.stage_details, step["state"], 0.6)
        timed(masks, cpu["masks"], handlers.open_tab, "masks", step["state"], 7, {})
        timed(scores, cpu["scores"], handlers.open_tab, "dashboard", step["state"], 7, {})
    analysis, state = out["analysis"], result["state"]
    ch, ch_handler = [], []
    for i in range(max(args.runs * 5, 20)):
        t = time.perf_counter()
        views.channel_view(analysis, (37 * i) % analysis.mask.shape[0])
        ch.append(time.perf_counter() - t)
        t = time.perf_counter()
        handlers.channel(state, (37 * i + 1) % analysis.mask.shape[0])
        ch_handler.append(time.perf_counter() - t)
    cam = []
    target = pred.class_names.index("Pedestrian") if "Pedestrian" in pred.class_names else 0
    pred.attribute(analysis, "gald", target, "gradcam")  # warm-up (captum import)
    for _ in range(max(3, args.runs // 2)):
        pred._attr_cache.clear()
        t = time.perf_counter()
        pred.attribute(analysis, "gald", target, "gradcam")
        cam.append(time.perf_counter() - t)

    px, px_attr = [], []
    h_img, w_img = analysis.image.shape[:2]
    for i in range(max(args.runs * 2, 10)):
        x, y = (53 * i) % w_img, (31 * i) % h_img
        t = time.perf_counter()
        handlers.pixel(state, x, y)
        px.append(time.perf_counter() - t)
    for i in range(max(3, args.runs // 2)):
        t = time.perf_counter()
        handlers.pixel_attribution(state, (71 * i + 5) % w_img, (29 * i + 7) % h_img, "gald")
        px_attr.append(time.perf_counter() - t)

    print(summarise("analysis: preprocess + network pass + class maps", net))
    print(summarise("analysis + every figure (arrays, plotly)", full))
    print(summarise("analyze handler (decode+analysis+figures+files)", handler, TARGETS["analysis"]))
    print(summarise("browser step 1: stage row (decode+network+5 files)", first))
    print(summarise("browser step 2: rest of the Stages tab", details))
    print(summarise("browser, Masks tab opened", masks))
    print(summarise("browser, Dashboard tab opened (this image's scores)", scores))
    for name, seconds in cpu.items():
        print(summarise(f"  process CPU seconds: {name}", seconds))
    print(summarise("channel view (array)", ch))
    print(summarise("channel handler (view + PNG file)", ch_handler, TARGETS["channel"]))
    print(summarise("GradCAM, GALD head (uncached)", cam, TARGETS["gradcam"]))
    print(summarise("pixel query handler (no attribution)", px, TARGETS["pixel"]))
    print(summarise("pixel attribution handler (GradCAM, uncached)", px_attr, TARGETS["gradcam"]))
    if not args.no_server:
        end_to_end(pred, args, tmp)
    return 0


def end_to_end(pred, args, tmp: Path) -> None:
    import socket

    from gradio_client import Client, handle_file

    from app.ui import build_demo, launch_options

    demo = build_demo(pred)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                    **launch_options())
        # download_files=False: time the server's answer, as a browser sees it before fetching the pictures
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False)
        label = Path(args.image).with_name(Path(args.image).stem + "_label.png")
        lab = handle_file(str(label)) if label.is_file() else None
        client.predict(handle_file(args.image), lab, 0.6, 0, api_name="/analyze")  # warm-up + upload cache
        e2e, ch = [], []
        for _ in range(max(3, args.runs // 2)):
            pred._cache.clear()
            t = time.perf_counter()
            client.predict(handle_file(args.image), lab, 0.6, 0, api_name="/analyze")
            e2e.append(time.perf_counter() - t)
        for i in range(max(10, args.runs)):
            t = time.perf_counter()
            client.predict(i * 11 % 256, api_name="/channel")
            ch.append(time.perf_counter() - t)
        print(summarise("analyze endpoint, end to end (gradio_client)", e2e, TARGETS["analysis_e2e"]))
        print(summarise("channel endpoint, end to end (gradio_client)", ch, TARGETS["channel"]))
    finally:
        demo.close()


if __name__ == "__main__":
    sys.exit(main())
