"""Probes of CGNL's global statistic `a = sum(p * g)` (one per group and image): how much of it reaches the
output, and how much gradient reaches the convolutions `p` and `g` that make it.

Used by tests/core/test_cgnl_gradients.py, `gald.reports.cgnl_gradients` (any checkpoint) and
`gald.reports.ga_statistic` (the head-protocol variants). Why the numbers come out as they do is derived in
docs/architecture.md ("Why CGNL's attention does not learn").
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .cgnl import CGNL

BRANCHES = ("t", "p", "g", "z")


def forward_with_statistic(module: CGNL, x: torch.Tensor,
                           transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """`module(x)` with the statistic replaced by `transform(a)` (e.g. torch.sign); None: unchanged."""
    h, w = x.shape[-2:]
    small = module.aggregation_input(x)
    att = module.statistic(small)
    context = module.aggregate(small, att if transform is None else transform(att))
    if module.structure == "official":
        return F.interpolate(small + context, size=(h, w), mode="bilinear", align_corners=True)
    if context.shape[-2:] != (h, w):
        context = F.interpolate(context, size=(h, w), mode="bilinear", align_corners=False)
    return x + context


@torch.no_grad()
def sign_only_change(module: CGNL, x: torch.Tensor) -> float:
    """||F_GA(sign(a)) - F_GA(a)|| / ||F_GA(a)||: how much of the statistic beyond its sign reaches the output."""
    full = forward_with_statistic(module, x)
    return float((forward_with_statistic(module, x, torch.sign) - full).norm() / full.norm())


@torch.no_grad()
def statistic_regime(module: CGNL, x: torch.Tensor) -> float:
    """Median over images and groups of |a| * sigma / sqrt(eps): sigma is the spread of z(t) over the group's
    channels and positions, so |a| sigma is the GroupNorm denominator before eps. >> 1: the trained regime
    (output ~ sign(a), gradient ~ eps); ~ 1: near a = 0, where the sign flips and the gradient spikes."""
    small = module.aggregation_input(x)
    b, _, h, w = small.shape
    att = module.statistic(small)  # (b, groups, 1)
    zt = module.z(module.t(small)).float().reshape(b, module.groups, -1)
    eps = getattr(module.gn, "eps", 1e-5)
    return float((att.abs() * zt.std(-1, keepdim=True) / math.sqrt(eps)).median())


def relative_gradients(module: CGNL, x: torch.Tensor, *, seed: int = 0, loss: str = "direction"
                       ) -> dict[str, float]:
    """||dL/dW|| / ||W|| for the t, p, g and z convolutions after one backward in train mode.

    loss "direction": (out * r).sum() with a fixed random r (depends on the output's direction);
    "square": (out ** 2).mean(). `x` is the module's input; gradients are cleared before and after."""
    was_training = module.training
    module.train()
    module.zero_grad(set_to_none=True)
    out = module(x)
    if loss == "direction":
        r = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(out)
        objective = (out * r).sum()
    elif loss == "square":
        objective = (out.float() ** 2).mean()
    else:
        raise ValueError(f"unknown loss {loss!r}; valid: direction, square")
    objective.backward()
    ratios = {}
    for name in BRANCHES:
        weight = getattr(module, name).weight
        ratios[name] = float(weight.grad.norm() / weight.detach().norm()) if weight.grad is not None else 0.0
    module.zero_grad(set_to_none=True)
    module.train(was_training)
    return ratios
