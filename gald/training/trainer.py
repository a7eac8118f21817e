"""`python -m gald.train --config configs/X.yaml [--set a.b=v ...] [--out runs/X] [--resume]`

Iteration-based SGD with poly LR, OHEM + aux loss, bf16 autocast on CUDA, DDP + SyncBN under torchrun.
Writes to the run directory: `log.jsonl`, `last.{safetensors,json}`, `best.{safetensors,json}` (by val
mIoU) and `snapshot-<step>/` (optimizer, schedule, RNG) for `--resume`. With `optim.time_budget_s` the
number of steps is fitted to a wall-clock budget (measured throughput, then a fixed poly schedule); with
`data.val: null` there is no validation and `last` is the result. A NaN/inf loss stops the run
without touching the saved checkpoints; Ctrl-C / SIGTERM saves a snapshot first.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from ..data import EvalTransform, TrainTransform, build_dataset
from ..data.device_pipeline import DeviceTrainData
from ..data.sampling import ResumableSampler, SeededDataset
from ..evaluation.evaluator import evaluate, summarize_small_large
from ..evaluation.metrics import small_large_split
from ..io.checkpoint import CheckpointError, load_weights, save_checkpoint
from ..io.config_file import load_config
from ..io.state_dict import load_state_strict
from ..models import GALDConfig, GALDNet
from ..models.backbones import backbone_normalization
from ..progress import progress
from .distributed import DistInfo, all_reduce_sum, barrier, broadcast_flag, cleanup, init_distributed
from .engine import make_optimizer, poly_lr_lambda, train_step
from .losses import GALDLoss
from .time_budget import BudgetClock, fitted_total
from .train_state import (
    latest_snapshot,
    read_snapshot,
    remove_stale_temp_files,
    rng_state,
    set_rng_state,
    write_snapshot,
)

# what train_seconds, the budget and img/s are measured with (monotonic: a wall-clock jump must not end a run);
# a module attribute so that tests can drive the budget logic with a clock that does not depend on the machine
train_clock = time.monotonic


class NonFiniteLoss(RuntimeError):
    pass


def init_from_checkpoint(model: GALDNet, path: str) -> None:
    """Start from a trained GALDNet's weights (a new schedule on top of an earlier run); strict, so a checkpoint
    of another architecture or class count fails here, naming what differs, rather than half-loading."""
    load_state_strict(model, load_weights(path), what=f"init_checkpoint {path}", target="the configured model",
                      error=CheckpointError)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m gald.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="YAML config (see configs/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set optim.iters=200 (repeatable)")
    p.add_argument("--out", help="run directory (default runs/<name>)")
    p.add_argument("--resume", action="store_true", help="continue from the newest snapshot in --out")
    p.add_argument("--data", help="shortcut for --set data.train=SPEC --set data.val=SPEC")
    p.add_argument("--iters", type=int, help="shortcut for --set optim.iters=N")
    p.add_argument("--device", help="auto | cpu | cuda")
    p.add_argument("--stop-after", type=int, help="stop (with a snapshot) after this step; for tests/budgets")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs still go to log.jsonl)")
    return p.parse_args(argv)


def build_cfg(args: argparse.Namespace) -> dict[str, Any]:
    overrides = list(args.overrides)
    if args.data:
        overrides += [f"data.train={args.data}", f"data.val={args.data}"]
    if args.iters:
        overrides.append(f"optim.iters={args.iters}")
    if args.device:
        overrides.append(f"train.device={args.device}")
    return load_config(args.config, overrides)


def make_loader(dataset, sampler, batch: int, workers: int, device: torch.device) -> DataLoader:
    # A DataLoader draws its workers' base seed from `generator` each time it is iterated; with the default
    # (the global RNG) that draw happens again when a resumed run rebuilds the loader mid-epoch, shifting
    # the dropout masks, so a resumed run would not match an uninterrupted one. Augmentation is seeded per
    # sample by the sampler, so a private generator loses nothing.
    generator = torch.Generator().manual_seed(sampler.seed * 100_003 + sampler.epoch)
    return DataLoader(SeededDataset(dataset), batch_size=batch, sampler=sampler, num_workers=workers,
                      pin_memory=device.type == "cuda", persistent_workers=workers > 0, drop_last=True,
                      prefetch_factor=4 if workers > 0 else None, generator=generator)


class Trainer:
    def __init__(self, cfg: dict[str, Any], run_dir: Path, dist_info: DistInfo, progress: bool = True) -> None:
        self.cfg, self.run_dir, self.dist, self.progress = cfg, run_dir, dist_info, progress
        dcfg, ocfg, tcfg = cfg["data"], cfg["optim"], cfg["train"]
        torch.manual_seed(tcfg["seed"])
        self.device = dist_info.device
        norm = dcfg["normalization"]
        norm = backbone_normalization(cfg["model"]["backbone"]) if norm == "auto" else norm
        train_tf = TrainTransform(tuple(dcfg["crop_size"]), tuple(dcfg["scale_range"]), mean=norm["mean"],
                                  std=norm["std"])
        self.train_set = build_dataset(dcfg["train"], dcfg["train_split"], train_tf)
        # data.on_device: the train split decoded once onto the training device, batches augmented there
        self.device_data = (DeviceTrainData.from_dataset(self.train_set, train_tf, dist_info.device)
                            if dcfg["on_device"] else None)
        self.val_set = (build_dataset(dcfg["val"], dcfg["val_split"], EvalTransform(norm["mean"], norm["std"]))
                        if dcfg["val"] else None)
        if self.val_set is not None and dcfg.get("val_limit"):
            self.val_set = torch.utils.data.Subset(self.val_set, range(min(dcfg["val_limit"], len(self.val_set))))
        base = self.train_set
        self.class_names, self.palette = list(base.class_names), [list(c) for c in base.palette]
        mcfg = GALDConfig.from_dict({**cfg["model"], "num_classes": len(self.class_names)})
        model = GALDNet(mcfg, pretrained_backbone=cfg.get("pretrained_backbone"))
        if cfg["init_checkpoint"]:
            init_from_checkpoint(model, cfg["init_checkpoint"])
        # SyncBatchNorm only runs on GPUs; on CPU (gloo) each rank normalises with its own batch statistics
        if dist_info.enabled and tcfg["sync_bn"] and self.device.type == "cuda":
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.channels_last = (tcfg["channels_last"] is True
                              or (tcfg["channels_last"] == "auto" and self.device.type == "cuda"))
        fmt = torch.channels_last if self.channels_last else torch.preserve_format
        model = model.to(self.device, memory_format=fmt)
        self.model: GALDNet = model
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed crop size: autotune each convolution once
        self.amp = bool(tcfg["amp"]) and self.device.type == "cuda"
        if ocfg["batch_size"] % dist_info.world_size:
            raise ValueError(f"optim.batch_size {ocfg['batch_size']} is not divisible by {dist_info.world_size} ranks")
        self.batch = ocfg["batch_size"] // dist_info.world_size
        self.optimizer = make_optimizer(model, ocfg["lr"], ocfg["momentum"], ocfg["weight_decay"],
                                        no_decay_depthwise=ocfg["no_decay_depthwise"],
                                        backbone_lr_mult=ocfg["backbone_lr_mult"],
                                        decay_norm_and_bias=ocfg["decay_norm_and_bias"])
        # total_iters can change once, when a time budget is fitted; the schedule reads it at every step
        self.total_iters, self.train_seconds, self.budget_fitted = int(ocfg["iters"]), 0.0, False
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: poly_lr_lambda(self.total_iters, ocfg["power"], ocfg["warmup_iters"])(s))
        lcfg = cfg["loss"]
        self.criterion = GALDLoss(lcfg["ohem"], lcfg["thresh"], lcfg["min_kept_ratio"], lcfg["aux_weight"],
                                  min_kept=lcfg["min_kept"])
        self.train_model = (DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda"
                                                    else None) if dist_info.enabled else model)
        if tcfg["compile"]:
            self.train_model = torch.compile(self.train_model)
        self.sampler = ResumableSampler(len(self.train_set), self.batch, seed=tcfg["seed"], rank=dist_info.rank,
                                        world_size=dist_info.world_size)
        self.step, self.best_miou, self.stop_requested = 0, -1.0, False
        self.tensorboard = None
        if tcfg.get("tensorboard") and dist_info.is_main:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise RuntimeError("train.tensorboard=true needs: pip install tensorboard") from exc
            self.tensorboard = SummaryWriter(str(run_dir / "tensorboard"))

    # --- state -------------------------------------------------------------------------------------
    def metadata(self, metrics: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"class_names": self.class_names, "palette": self.palette,
                "normalization": {"mean": list(self.train_set.transform.mean),
                                  "std": list(self.train_set.transform.std)},
                "inference": {"scale": self.cfg["data"]["input_scale"]},
                "training": {**self.cfg, "optim": {**self.cfg["optim"], "iters": self.total_iters},
                             "step": self.step, "train_seconds": round(self.train_seconds, 1),
                             "hardware": self.hardware()},
                "metrics": metrics or {}}

    def hardware(self) -> str:
        """Where this run trains, for the model card (the world size counts DDP ranks)."""
        if self.device.type == "cuda":
            where = f"{torch.cuda.get_device_name(self.device)} (CUDA)"
        else:
            where = f"CPU, {torch.get_num_threads()} threads"
        ranks = f" x {self.dist.world_size} ranks" if self.dist.world_size > 1 else ""
        return f"{where}{ranks}, torch {torch.__version__}, {'bf16 autocast' if self.amp else 'fp32'}"

    def save_snapshot(self) -> None:
        if self.dist.is_main:
            write_snapshot(self.run_dir, self.step, {
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "rng": rng_state(), "best_miou": self.best_miou,
                "total_iters": self.total_iters, "train_seconds": self.train_seconds,
                "budget_fitted": self.budget_fitted})
            save_checkpoint(self.run_dir / "last", self.model, self.metadata())
        barrier(self.dist)

    def resume(self) -> None:
        snap = latest_snapshot(self.run_dir)
        if snap is None:
            raise FileNotFoundError(f"--resume: no snapshot in {self.run_dir}")
        step, state = read_snapshot(snap)
        self.model.load_state_dict(state["model"], strict=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        self.step, self.best_miou = step, float(state["best_miou"])
        self.total_iters = int(state.get("total_iters", self.total_iters))
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.budget_fitted = bool(state.get("budget_fitted", False))
        self.log({"event": "resume", "from": str(snap)})

    def log(self, record: dict[str, Any]) -> None:
        if not self.dist.is_main:
            return
        with open(self.run_dir / "log.jsonl", "a") as f:
            f.write(json.dumps({"step": self.step, "time": time.time(), **record}) + "\n")
        if self.tensorboard is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and k != "epoch":
                    self.tensorboard.add_scalar(f"{record.get('event', 'train')}/{k}", v, self.step)

    # --- loop --------------------------------------------------------------------------------------
    def validate(self) -> float | None:
        if self.val_set is None:
            return None
        dcfg = self.cfg["data"]
        sub = torch.utils.data.Subset(self.val_set, range(self.dist.rank, len(self.val_set), self.dist.world_size))
        # private generator: validating must not draw from the global RNG that training (dropout) uses
        loader = DataLoader(sub, batch_size=1, num_workers=min(dcfg["workers"], 2), generator=torch.Generator())
        result = evaluate(self.model, loader, len(self.class_names), device=self.device, class_names=self.class_names,
                          input_scale=dcfg["input_scale"], amp=self.amp, dist_info=self.dist,
                          max_size=dcfg["eval_max_size"],
                          progress=self.progress and self.dist.is_main, band_widths=(5,))
        split = small_large_split(list(result["class_pixel_share"]), result["class_pixel_share"])
        summarize_small_large(result, split["small"], split["large"])
        self.model.train()
        miou = result["heads"]["gald"]["miou"]
        self.log({"event": "val", **{f"{h}_miou": r["miou"] for h, r in result["heads"].items()},
                  "boundary_iou_5": result["boundary_iou"]["gald"]["5"]})
        if self.dist.is_main and miou > self.best_miou:
            self.best_miou = miou
            metrics = {h: {"miou": r["miou"], "per_class_iou": r["per_class_iou"]} for h, r in result["heads"].items()}
            save_checkpoint(self.run_dir / "best", self.model, self.metadata({"val": metrics}))
        barrier(self.dist)
        return miou

    def fit_budget(self, elapsed: float, steps_timed: int, seconds_timed: float) -> None:
        """Set total_iters so that the run ends at the time budget, at the measured steps per second."""
        budget = self.cfg["optim"]["time_budget_s"]
        total, rate = fitted_total(self.step, elapsed, budget, steps_timed, seconds_timed)
        # every rank must stop at the same step: use the mean of their estimates
        total = int(all_reduce_sum(torch.tensor([float(total)]), self.dist).item() / self.dist.world_size)
        self.total_iters, self.budget_fitted = max(total, self.step + 1), True
        self.log({"event": "budget", "total_iters": self.total_iters, "steps_per_s": rate,
                  "elapsed_s": elapsed, "budget_s": budget})

    def fit(self, stop_after: int | None = None) -> None:
        ocfg, tcfg, dcfg = self.cfg["optim"], self.cfg["train"], self.cfg["data"]
        budget = ocfg["time_budget_s"]
        per_epoch = self.sampler.batches_per_epoch
        bar = progress(total=self.total_iters, initial=self.step, desc=self.cfg["name"], unit="step",
                       enabled=self.progress and self.dist.is_main, mininterval=2.0, interval=60.0)
        self.model.train()
        t_last, n_last = train_clock(), 0
        session_start, seconds_before, session_steps = train_clock(), self.train_seconds, 0
        clock = BudgetClock(budget) if budget else None  # when to fit the step count to the budget
        # one loader for the whole run: its persistent workers start once, not at every epoch (on a GPU a
        # CamVid epoch is a few seconds, and restarting workers each time cost as much); the sampler is
        # iterated afresh in this process at every epoch, so its position still decides the batches
        self.sampler.set_position(*divmod(self.step, per_epoch))
        loader = (self.device_data.loader(self.sampler, self.batch) if self.device_data is not None
                  else make_loader(self.train_set, self.sampler, self.batch, dcfg["workers"], self.device))
        while self.step < self.total_iters:
            epoch, start = divmod(self.step, per_epoch)
            self.sampler.set_position(epoch, start)
            for images, labels in loader:
                images = images.to(self.device, non_blocking=True)
                if self.channels_last:
                    images = images.contiguous(memory_format=torch.channels_last)
                labels = labels.to(self.device, non_blocking=True)
                parts = train_step(self.train_model, images, labels, self.criterion, self.optimizer, amp=self.amp)
                loss = parts["total"].item()
                if broadcast_flag(not math.isfinite(loss), self.dist):
                    raise NonFiniteLoss(f"loss became {loss} at step {self.step + 1}; stopping without saving. "
                                        f"The last good checkpoint is {self.run_dir / 'last.safetensors'} "
                                        "(resume with --resume, perhaps with a lower optim.lr).")
                self.scheduler.step()
                self.step += 1
                session_steps += 1
                now = train_clock()
                self.train_seconds = seconds_before + now - session_start
                timed = clock and clock.due(session_steps, self.step, now, self.train_seconds, self.budget_fitted)
                if timed:
                    self.fit_budget(self.train_seconds, *timed)
                    bar.total = self.total_iters
                total = self.total_iters
                n_last += images.shape[0] * self.dist.world_size
                bar.update(1)
                if self.step % tcfg["log_every"] == 0 or self.step == total:
                    rate = n_last / max(now - t_last, 1e-9)
                    lr = self.optimizer.param_groups[0]["lr"]
                    bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.2e}", img_s=f"{rate:.1f}")
                    self.log({"event": "train", "lr": lr, "img_s": rate, "epoch": epoch,
                              **{k: v.item() for k, v in parts.items()}})
                    t_last, n_last = train_clock(), 0
                # a budget is a promise: if the machine slows down after the last fit, stop at 115 %
                over = bool(budget) and broadcast_flag(self.train_seconds > 1.15 * budget, self.dist)
                if over:
                    self.log({"event": "budget_exceeded", "total_iters": total, "elapsed_s": self.train_seconds})
                done = over or self.step >= total or (stop_after is not None and self.step >= stop_after)
                stop = broadcast_flag(self.stop_requested, self.dist)
                # validate first, so that a snapshot taken at the same step holds the updated best mIoU
                if tcfg["eval_every"] and (self.step % tcfg["eval_every"] == 0 or self.step == total):
                    self.validate()
                if self.step % tcfg["save_every"] == 0 or done or stop:
                    self.save_snapshot()
                if done or stop:
                    bar.close()
                    if stop:
                        raise KeyboardInterrupt
                    return
        bar.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = build_cfg(args)
    dist_info = init_distributed(cfg["train"]["device"])
    run_dir = Path(args.out or f"runs/{cfg['name']}")
    run_dir.mkdir(parents=True, exist_ok=True)
    if dist_info.is_main and (stale := remove_stale_temp_files(run_dir)):
        print(f"removed {len(stale)} half-written file(s) left by an interrupted run: {', '.join(stale)}",
              file=sys.stderr)
    trainer = Trainer(cfg, run_dir, dist_info, progress=not args.no_progress)
    # Ctrl-C and SIGTERM (torchrun, schedulers) finish the current step, write a snapshot and exit, so the
    # saved state is never from the middle of an optimizer step. A second Ctrl-C aborts at once.
    def request_stop(signum, _frame):
        if trainer.stop_requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        trainer.stop_requested = True
        if dist_info.is_main:
            print("\nstop requested: finishing this step and saving (Ctrl-C again to abort)", file=sys.stderr)

    # remembered and restored on return, so that main() called in-process (tests, notebooks) leaves them as found
    previous_handlers = {s: signal.signal(s, request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    if args.resume:
        trainer.resume()
    elif dist_info.is_main:
        (run_dir / "config.json").write_text(json.dumps(cfg, indent=2))
    try:
        trainer.fit(stop_after=args.stop_after)
    except NonFiniteLoss as exc:
        print(f"error: {exc}", file=sys.stderr)
        cleanup(dist_info)
        return 3
    except KeyboardInterrupt:
        saved = "saved" if trainer.stop_requested else "aborted without saving"
        print(f"interrupted at step {trainer.step} ({saved}); resume from the last snapshot with "
              f"--resume --out {run_dir}", file=sys.stderr)
        cleanup(dist_info)
        return 130
    finally:
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)
    if dist_info.is_main:
        best = f"best val mIoU {trainer.best_miou:.4f}" if trainer.val_set is not None else "no validation set"
        print(f"done: {trainer.step} steps in {trainer.train_seconds:.0f} s, {best}; checkpoints in {run_dir}")
    cleanup(dist_info)
    return 0

