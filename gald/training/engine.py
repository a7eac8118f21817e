"""Training building blocks (no argparse): optimizer, poly schedule, autocast policy, one step."""

from __future__ import annotations

import contextlib

import torch
from torch import nn


def make_optimizer(model: nn.Module, lr: float, momentum: float = 0.9, weight_decay: float = 5e-4, *,
                   no_decay_depthwise: bool = False, backbone_lr_mult: float = 1.0,
                   decay_norm_and_bias: bool = False) -> torch.optim.SGD:
    """SGD without weight decay on norm parameters and biases unless `decay_norm_and_bias` (the authors' code
    decays every parameter) and, optionally, on depth-wise kernels, which decay destroys when fine-tuning
    MobileNet-style trunks; `backbone_lr_mult` scales the trunk's lr."""
    depthwise = set()
    if no_decay_depthwise:
        depthwise = {id(m.weight) for m in model.modules()
                     if isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels}
    backbone = getattr(model, "backbone", None)
    trunk = {id(p) for p in backbone.parameters()} if backbone is not None else set()
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for p in model.parameters():
        if p.requires_grad:
            key = ((p.ndim > 1 or decay_norm_and_bias) and id(p) not in depthwise, id(p) in trunk)
            groups.setdefault(key, []).append(p)
    return torch.optim.SGD([{"params": ps, "weight_decay": weight_decay if decay else 0.0,
                             "lr": lr * (backbone_lr_mult if in_trunk else 1.0)}
                            for (decay, in_trunk), ps in sorted(groups.items())], lr=lr, momentum=momentum)


def poly_lr_lambda(total_iters: int, power: float = 0.9, warmup_iters: int = 0, warmup_ratio: float = 0.1):
    """Poly schedule (Section 4.2, power 0.9) with optional linear warmup; a multiplier for LambdaLR."""
    def factor(step: int) -> float:
        if step < warmup_iters:
            return warmup_ratio + (1 - warmup_ratio) * step / max(warmup_iters, 1)
        return max(1 - step / max(total_iters, 1), 0.0) ** power
    return factor


def autocast_context(device: torch.device, amp: bool):
    """bf16 autocast on CUDA only: on CPU bf16 is ~50x slower here, so CPU stays fp32."""
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, criterion: nn.Module,
               optimizer: torch.optim.Optimizer, *, amp: bool = False) -> dict[str, torch.Tensor]:
    """Forward, loss, backward, step. Returns the detached loss parts; the caller checks finiteness."""
    optimizer.zero_grad(set_to_none=True)
    with autocast_context(images.device, amp):
        logits = model(images)
    parts = criterion(logits, labels)
    loss = parts["total"]
    if not torch.isfinite(loss):
        return {k: v.detach() for k, v in parts.items()}
    loss.backward()
    optimizer.step()
    return {k: v.detach() for k, v in parts.items()}
