"""Training throughput on a GPU: images/s, GPU busy fraction and memory per setting, with the training data
on the device (gald.data.device_pipeline) or fed by the CPU DataLoader.

    python -m benchmarks.gpu_throughput [--models lite0 lite2 r18] [--batches 16 32 64] [--pipelines device loader]
        [--compile] [--crop 360 480] [--warmup 5] [--steps 15] [--time-limit-s 600] [--json OUT]

Each setting builds the model, loss and optimizer as gald.train does (benchmarks.train_throughput.Bench: the
recipe config of the model, bf16 autocast + channels_last on CUDA) and times `--steps` training steps after
`--warmup` (median step time, the loss read back every step as the trainer does). While the timed steps run,
a thread samples the GPU's utilisation (torch.cuda.utilization, else nvidia-smi) every 0.1 s: the busy
fraction is their mean. Memory: the peak allocated by the step. Settings are run in order until
`--time-limit-s` has passed; the rest are listed as skipped. cuDNN autotuning is off unless
`--cudnn-benchmark` (the trainer turns it on; off, a short run measures less than a long one will get).

Runs on the CPU too (fp32, no busy fraction) with tiny settings, e.g. for the rehearsal:
`--models lite0 --batches 2 --crop 32 48 --warmup 1 --steps 1 --data camvid:PATH`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from benchmarks.train_throughput import Bench, machine, real_batches, sync
from gald.data import TrainTransform, build_dataset
from gald.data.device_pipeline import DeviceTrainData
from gald.data.sampling import ResumableSampler
from gald.io.config_file import load_config
from gald.models.backbones import backbone_normalization

REPO = Path(__file__).resolve().parents[1]
MODELS = {"lite0": "configs/camvid_lite0_gald_gpu.yaml", "lite2": "configs/camvid_lite2_gald_gpu.yaml",
          "r18": "configs/camvid_r18_gald_gpu.yaml"}


class BusySampler:
    """Mean GPU utilisation (0-1) over a window, sampled in a thread; None on a CPU or without NVML/nvidia-smi."""

    def __init__(self, device: torch.device, interval_s: float = 0.1) -> None:
        self.device, self.interval, self.samples = device, interval_s, []
        self.read = self._reader() if device.type == "cuda" else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _reader(self):
        try:
            torch.cuda.utilization(self.device)
            return lambda: torch.cuda.utilization(self.device)
        except Exception:  # no pynvml / NVML: ask nvidia-smi (slower, still well under the interval)
            def smi() -> float:
                out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                                      "-i", str(self.device.index or 0)], capture_output=True, text=True, timeout=5)
                return float(out.stdout.strip().splitlines()[0])
            try:
                smi()
                return smi
            except Exception:
                return None

    def __enter__(self) -> BusySampler:
        if self.read is not None:
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.samples.append(float(self.read()))
            except Exception:
                return

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def busy(self) -> float | None:
        return round(statistics.mean(self.samples) / 100, 3) if self.samples else None


def device_batches(data: DeviceTrainData, batch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    sampler, epoch = ResumableSampler(len(data), batch, seed=0), 0
    while True:
        sampler.set_position(epoch)
        yield from data.loader(sampler, batch)
        epoch += 1


def measure(bench: Bench, batches, batch: int, warmup: int, steps: int) -> dict[str, Any]:
    device = bench.device
    for _ in range(warmup):
        bench.step(*bench.prepare(*next(batches)))
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    with BusySampler(device) as util:
        t = time.perf_counter()
        for _ in range(steps):
            bench.step(*bench.prepare(*next(batches)))  # .item() inside: one sync per step, as in training
            now = time.perf_counter()
            times.append(now - t)
            t = now
    med = statistics.median(times)
    out = {"img_s": round(batch / med, 1), "step_ms": round(1000 * med, 1), "steps": steps, "busy": util.busy}
    if device.type == "cuda":
        out["peak_mem_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--batches", nargs="+", type=int, default=[16, 32, 64])
    ap.add_argument("--pipelines", nargs="+", default=["device", "loader"], choices=("device", "loader"))
    ap.add_argument("--compile", action="store_true", help="also time each setting under torch.compile")
    ap.add_argument("--crop", nargs=2, type=int, default=[360, 480], metavar=("H", "W"))
    ap.add_argument("--data", help="train data spec (default: the model config's data.train)")
    ap.add_argument("--workers", type=int, default=12, help="DataLoader workers for the loader pipeline")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="config override for every model (e.g. model.mid_channels=16 for a tiny rehearsal)")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--cudnn-benchmark", action="store_true")
    ap.add_argument("--time-limit-s", type=float, default=600.0, help="start no setting after this many seconds")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    cuda = device.type == "cuda"
    crop = tuple(args.crop)
    info = machine()
    if cuda:
        info["gpu_mem_gib"] = round(torch.cuda.get_device_properties(device).total_memory / 2**30, 1)
    report: dict[str, Any] = {"machine": info, "device": str(device), "crop": list(crop),
                              "precision": "bf16 autocast + channels_last" if cuda else "fp32",
                              "command": " ".join(["python -m benchmarks.gpu_throughput",
                                                   *(sys.argv[1:] if argv is None else argv)]),
                              "results": [], "skipped": []}
    print(f"{report['machine'].get('gpu', report['machine']['cpu'])} · torch {torch.__version__} · "
          f"{report['precision']} · crop {crop[0]}x{crop[1]}")
    on_device: dict[tuple, DeviceTrainData] = {}  # one decoded copy per (data, normalisation)
    for name in args.models:
        cfg = load_config(REPO / MODELS[name], args.overrides)
        spec, scales = args.data or cfg["data"]["train"], tuple(cfg["data"]["scale_range"])
        norm = cfg["data"]["normalization"]
        norm = backbone_normalization(cfg["model"]["backbone"]) if norm == "auto" else norm
        tf = TrainTransform(crop, scales, mean=norm["mean"], std=norm["std"])
        for batch in args.batches:
            for pipeline in args.pipelines:
                for compiled in (False, True) if args.compile else (False,):
                    setting = {"model": name, "batch": batch, "pipeline": pipeline, "compile": compiled}
                    if time.perf_counter() - t0 > args.time_limit_s:
                        report["skipped"].append(setting)
                        continue
                    bench = Bench(cfg, device, amp=cuda, channels_last=cuda)
                    if compiled:
                        bench.model = torch.compile(bench.model)
                    if pipeline == "device":
                        key = (spec, tuple(norm["mean"]), tuple(norm["std"]), scales)
                        if key not in on_device:
                            on_device[key] = DeviceTrainData.from_dataset(build_dataset(spec, "train"), tf, device)
                        batches = device_batches(on_device[key], batch)
                    else:
                        batches = real_batches(spec, batch, crop, scales, args.workers, device)
                    try:
                        r = measure(bench, batches, batch, args.warmup, args.steps)
                    except torch.OutOfMemoryError as exc:
                        r = {"error": f"out of memory: {str(exc).splitlines()[0]}"}
                    finally:
                        del bench, batches
                        if cuda:
                            torch.cuda.empty_cache()
                    report["results"].append({**setting, **r})
                    busy = f"{100 * r['busy']:.0f}%" if r.get("busy") is not None else "n/a"
                    print(f"{name:<6} batch {batch:<3} {pipeline:<7}{' compiled' if compiled else '':<9} "
                          + (f"{r['img_s']:8.1f} img/s  {r['step_ms']:7.1f} ms/step  busy {busy:>4}  "
                             f"peak {r.get('peak_mem_gib', 'n/a')} GiB" if "img_s" in r else r["error"]),
                          flush=True)
    report["wall_s"] = round(time.perf_counter() - t0, 1)
    if report["skipped"]:
        print(f"skipped after {args.time_limit_s:g} s: {len(report['skipped'])} setting(s)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
