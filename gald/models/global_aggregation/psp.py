"""Pyramid Pooling Module (Zhao et al. 2017, PSPNet) as a GA alternative (Table 1(a))."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import conv_bn_relu


class PSP(nn.Module):
    def __init__(self, channels: int, *, bins: tuple[int, ...] = (1, 2, 3, 6)) -> None:
        super().__init__()
        branch = channels // len(bins)
        self.bins = bins
        self.stages = nn.ModuleList(conv_bn_relu(channels, branch) for _ in bins)
        self.project = conv_bn_relu(channels + branch * len(bins), channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [F.interpolate(stage(F.adaptive_avg_pool2d(x, b)), size=size, mode="bilinear",
                                align_corners=False) for b, stage in zip(self.bins, self.stages, strict=True)]
        return self.project(torch.cat([x, *pooled], 1))
