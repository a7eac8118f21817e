"""Compact Generalized Non-Local block (Yue et al. 2018), the default GA module (Section 3.2).

Grouped, dot-product kernel: for each channel group a single global statistic
`sum(p * g)` over all channels *and* positions of the group is multiplied back onto `t`.
As the GALD paper does, the aggregation runs at 1/2 of the FCN feature resolution and its
output is bilinearly upsampled back to the exact input size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CGNL(nn.Module):
    def __init__(self, channels: int, *, groups: int = 8, reduction: int = 2, downsample: int = 2,
                 use_scale: bool = False) -> None:
        super().__init__()
        inner = channels // reduction
        if inner % groups or channels % groups:
            raise ValueError(f"CGNL: channels {channels} and inner {inner} must be divisible by groups {groups}")
        self.groups, self.downsample, self.use_scale = groups, downsample, use_scale
        self.t = nn.Conv2d(channels, inner, 1, bias=False)
        self.p = nn.Conv2d(channels, inner, 1, bias=False)
        self.g = nn.Conv2d(channels, inner, 1, bias=False)
        self.z = nn.Conv2d(inner, channels, 1, groups=groups, bias=False)
        self.gn = nn.GroupNorm(groups, channels)
        # Start as identity so a randomly initialised GA does not swamp the FCN feature early on.
        nn.init.zeros_(self.gn.weight)

    def aggregate(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        t, p, g = self.t(x), self.p(x), self.g(x)
        # The kernel sums over c*h*w products; in bf16 that reduction overflows/loses precision.
        t, p, g = (v.float().reshape(b, self.groups, -1) for v in (t, p, g))
        att = (p * g).sum(-1, keepdim=True)  # one statistic per group
        if self.use_scale:
            att = att / (p.shape[-1] ** 0.5)
        y = (att * t).reshape(b, -1, h, w).to(x.dtype)
        return self.gn(self.z(y))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        small = F.avg_pool2d(x, self.downsample, ceil_mode=True) if self.downsample > 1 else x
        context = self.aggregate(small)
        if context.shape[-2:] != (h, w):
            context = F.interpolate(context, size=(h, w), mode="bilinear", align_corners=False)
        return x + context
