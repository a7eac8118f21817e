"""Training throughput (images/s) of the CamVid recipe, with and without the real data loader.

    python -m benchmarks.train_throughput [--quick] [--device auto|cpu|cuda] [--threads N] [--json OUT]

Two settings, both with the model of configs/camvid_r18_gald_cpu.yaml (ResNet-18 OS8 GALD, CGNL, OHEM + aux):
  recipe    crop 176x240, batch 8  (the CPU recipe: inputs at half resolution)
  full-res  crop 360x480, batch 2  (CamVid at full resolution, augmentation of configs/camvid_r18_gald.yaml)

For each it measures, as the median over timed steps after warm-up:
  synthetic     train steps on fixed random tensors (the model alone, no data loading)
  loader        the real CamVid DataLoader alone (decode + augment + collate), when the data folder exists
  loader+model  train steps fed by that loader: if this is well below `synthetic` and `loader` is close to
                it, the loader starves the model (raise data.workers)
then prints a torch.profiler table of where one step's time goes (forward / loss / backward / optimizer
and the top ops). On CUDA it also compares bf16 autocast + channels_last with fp32. A step is timed the
way the trainer runs it (gald.evaluation.evaluator.train_step, loss read back with .item()).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from gald.data import CAMVID_CLASSES, DatasetError, TrainTransform, build_dataset
from gald.data.sampling import ResumableSampler
from gald.io.config_file import load_config
from gald.models import GALDConfig, GALDNet
from gald.training.engine import autocast_context, make_optimizer, train_step
from gald.training.losses import GALDLoss
from gald.training.trainer import make_loader

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "configs" / "camvid_r18_gald_cpu.yaml"
FULL_RES = REPO / "configs" / "camvid_r18_gald.yaml"
NUM_CLASSES = len(CAMVID_CLASSES)


def settings() -> list[dict[str, Any]]:
    recipe, full = load_config(RECIPE), load_config(FULL_RES)
    return [
        {"name": "recipe", "crop": tuple(recipe["data"]["crop_size"]), "batch": 8,
         "scale_range": tuple(recipe["data"]["scale_range"])},
        {"name": "full-res", "crop": tuple(full["data"]["crop_size"]), "batch": 2,
         "scale_range": tuple(full["data"]["scale_range"])},
    ]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Bench:
    """Model + loss + optimizer built exactly as gald.training.trainer.Trainer builds them for the recipe."""

    def __init__(self, cfg: dict[str, Any], device: torch.device, *, amp: bool = False,
                 channels_last: bool = False) -> None:
        torch.manual_seed(0)
        self.device, self.amp, self.channels_last = device, amp, channels_last
        fmt = torch.channels_last if channels_last else torch.preserve_format
        self.model = GALDNet(GALDConfig.from_dict({**cfg["model"], "num_classes": NUM_CLASSES})).to(
            device, memory_format=fmt).train()
        o, lc = cfg["optim"], cfg["loss"]
        self.optimizer = make_optimizer(self.model, o["lr"], o["momentum"], o["weight_decay"],
                                        no_decay_depthwise=o["no_decay_depthwise"],
                                        backbone_lr_mult=o["backbone_lr_mult"])  # the parameter groups gald.train uses
        self.criterion = GALDLoss(lc["ohem"], lc["thresh"], lc["min_kept_ratio"], lc["aux_weight"])

    def prepare(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images = images.to(self.device, non_blocking=True)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images, labels.to(self.device, non_blocking=True)

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        parts = train_step(self.model, images, labels, self.criterion, self.optimizer, amp=self.amp)
        return parts["total"].item()  # the trainer reads the loss back every step: a sync point

    def timed_steps(self, batches: Iterator[tuple[torch.Tensor, torch.Tensor]], warmup: int, steps: int
                    ) -> list[float]:
        """Seconds per step, batch fetching included (the time between consecutive step ends)."""
        times = []
        sync(self.device)
        t = time.perf_counter()
        for i in range(warmup + steps):
            images, labels = self.prepare(*next(batches))
            self.step(images, labels)
            sync(self.device)
            now = time.perf_counter()
            if i >= warmup:
                times.append(now - t)
            t = now
        return times


def synthetic_batches(batch: int, crop: tuple[int, int]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, *crop, generator=g)
    labels = torch.randint(0, NUM_CLASSES, (batch, *crop), generator=g)
    while True:
        yield images, labels


def real_batches(spec: str, batch: int, crop: tuple[int, int], scale_range: tuple[float, float], workers: int,
                 device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The trainer's loader (ResumableSampler + per-sample seeds), epoch after epoch."""
    dataset = build_dataset(spec, "train", TrainTransform(crop, scale_range))
    sampler = ResumableSampler(len(dataset), batch, seed=0)
    epoch = 0
    while True:
        sampler.set_position(epoch)
        yield from make_loader(dataset, sampler, batch, workers, device)
        epoch += 1


def loader_only(batches: Iterator, batch: int, n: int) -> list[float]:
    """Seconds per batch of the loader alone; the first batch (worker start-up) is not counted."""
    next(batches)
    times = []
    t = time.perf_counter()
    for _ in range(n):
        next(batches)
        now = time.perf_counter()
        times.append(now - t)
        t = now
    return times


def rate(batch: int, times: list[float]) -> dict[str, float]:
    med = statistics.median(times)
    return {"images_per_s": batch / med, "s_per_step": med, "min_s": min(times), "max_s": max(times), "n": len(times)}


def fmt_rate(r: dict[str, float]) -> str:
    return (f"{r['images_per_s']:7.2f} img/s  ({r['s_per_step'] * 1000:7.0f} ms/step median of {r['n']}, "
            f"{r['min_s'] * 1000:.0f}-{r['max_s'] * 1000:.0f})")


def profile_step(bench: Bench, batch: int, crop: tuple[int, int], steps: int, top: int) -> str:
    """Phase times (forward, loss, backward, optimizer) and the top ops by self time, over `steps` steps."""
    images, labels = bench.prepare(*next(synthetic_batches(batch, crop)))
    bench.step(images, labels)  # warm-up outside the profile
    cuda = bench.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        for _ in range(steps):
            bench.optimizer.zero_grad(set_to_none=True)
            with record_function("## forward"), autocast_context(bench.device, bench.amp):
                logits = bench.model(images)
            with record_function("## loss"):
                loss = bench.criterion(logits, labels)["total"]
            with record_function("## backward"):
                loss.backward()
            with record_function("## optimizer"):
                bench.optimizer.step()
            loss.item()
            sync(bench.device)
    events = prof.key_averages()

    def self_us(e) -> float:
        if cuda:
            return float(getattr(e, "self_device_time_total", 0) or getattr(e, "self_cuda_time_total", 0))
        return float(e.self_cpu_time_total)

    phases = {e.key: e.cpu_time_total for e in events if e.key.startswith("## ")}
    total_phase = sum(phases.values()) or 1.0
    lines = [f"where a step's time goes ({steps} profiled step(s), batch {batch}, {crop[0]}x{crop[1]}, "
             f"{'CUDA self time' if cuda else 'CPU self time'} for ops):"]
    for k in ("## forward", "## loss", "## backward", "## optimizer"):
        if k in phases:
            lines.append(f"  {k[3:]:<10}{phases[k] / 1000 / steps:9.1f} ms/step  {100 * phases[k] / total_phase:5.1f}%")
    ops = sorted((e for e in events if not e.key.startswith("## ") and self_us(e) > 0), key=self_us, reverse=True)
    total_self = sum(self_us(e) for e in ops) or 1.0
    lines.append(f"  {'op':<46}{'self ms/step':>13}{'share':>8}{'calls/step':>12}")
    for e in ops[:top]:
        lines.append(f"  {e.key[:45]:<46}{self_us(e) / 1000 / steps:13.1f}{100 * self_us(e) / total_self:7.1f}%"
                     f"{e.count / steps:12.0f}")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"torch": torch.__version__, "python": platform.python_version(),
                            "threads": torch.get_num_threads(), "cpu_count": os.cpu_count()}
    try:
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                           if line.startswith("model name"))
    except (OSError, StopIteration):
        info["cpu"] = platform.processor() or platform.machine()
    if hasattr(os, "getloadavg"):
        info["load_avg_1m_before"] = round(os.getloadavg()[0], 2)
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="few steps (1 warm-up + 3 timed; ~5 min on a busy 2-core CPU)")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--data", help="dataset spec for the loader runs (default: the recipe's data.train)")
    ap.add_argument("--workers", type=int, help="DataLoader workers (default: the recipe's data.workers)")
    ap.add_argument("--warmup", type=int, help="warm-up steps (default 3, --quick 1)")
    ap.add_argument("--steps", type=int, help="timed steps (default 10, --quick 3)")
    ap.add_argument("--top", type=int, default=12, help="ops in the profiler table")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda requested but CUDA is not available on this machine")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    steps = args.steps if args.steps is not None else (3 if args.quick else 10)
    cfg = load_config(RECIPE)
    spec = args.data or cfg["data"]["train"]
    workers = args.workers if args.workers is not None else cfg["data"]["workers"]
    info = machine()
    report: dict[str, Any] = {"date": _dt.date.today().isoformat(), "device": str(device), "machine": info,
                              "command": " ".join(["python -m benchmarks.train_throughput",
                                                   *(sys.argv[1:] if argv is None else argv)]),
                              "warmup": warmup, "steps": steps, "workers": workers, "data": spec, "results": {}}
    print(f"torch {info['torch']} · {device} · {info.get('gpu', info['cpu'])} · {info['threads']} threads of "
          f"{info['cpu_count']} CPUs · load average {info.get('load_avg_1m_before', '?')} · "
          f"{warmup} warm-up + {steps} timed steps")
    variants = [("fp32", False, False)] + ([("bf16+channels_last", True, True)] if device.type == "cuda" else [])
    try:
        build_dataset(spec, "train")
        has_data = True
    except DatasetError as exc:
        has_data = False
        print(f"(no real-loader runs: {exc})")
    for s in settings():
        name, crop, batch = s["name"], s["crop"], s["batch"]
        res: dict[str, Any] = report["results"].setdefault(name, {"crop": list(crop), "batch": batch})
        print(f"\n{name}: crop {crop[0]}x{crop[1]}, batch {batch}")
        for label, amp, cl in variants:
            bench = Bench(cfg, device, amp=amp, channels_last=cl)
            r = rate(batch, bench.timed_steps(synthetic_batches(batch, crop), warmup, steps))
            res[f"synthetic {label}"] = r
            print(f"  synthetic {label:<20}{fmt_rate(r)}")
            del bench
        if has_data:
            batches = real_batches(spec, batch, crop, s["scale_range"], workers, device)
            r = rate(batch, loader_only(batches, batch, max(steps, 4)))
            res["loader"] = r
            print(f"  {'loader only (' + str(workers) + ' workers)':<30}{fmt_rate(r)}")
            best_amp, best_cl = variants[-1][1:]
            bench = Bench(cfg, device, amp=best_amp, channels_last=best_cl)
            r = rate(batch, bench.timed_steps(batches, warmup, steps))
            res["loader+model"] = r
            print(f"  {'loader + model (' + variants[-1][0] + ')':<30}{fmt_rate(r)}")
            del bench, batches
    s = settings()[0]
    label, amp, cl = variants[-1]
    table = profile_step(Bench(cfg, device, amp=amp, channels_last=cl), s["batch"], s["crop"],
                         1 if args.quick else 2, args.top)
    report["profile"] = table
    print(f"\n[{s['name']}, {label}] {table}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
