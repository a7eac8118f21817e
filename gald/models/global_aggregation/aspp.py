"""Atrous Spatial Pyramid Pooling (Chen et al., DeepLab v3) as a GA alternative (Table 1(a)).

Rates are DeepLab's (6, 12, 18) at output stride 16, doubled to (12, 24, 36) at output stride 8 (GALDNet passes
its output stride; explicit `rates` win).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import conv_bn_relu


class ASPP(nn.Module):
    def __init__(self, channels: int, *, rates: tuple[int, ...] | None = None, output_stride: int = 16) -> None:
        super().__init__()
        if rates is None:
            rates = tuple(r * 16 // output_stride for r in (6, 12, 18))
        self.rates = tuple(rates)
        branch = channels // 2
        self.branches = nn.ModuleList(
            [conv_bn_relu(channels, branch)] + [conv_bn_relu(channels, branch, 3, r) for r in rates])
        self.image_pool = conv_bn_relu(channels, branch)
        self.project = conv_bn_relu(branch * (len(rates) + 2), channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.image_pool(F.adaptive_avg_pool2d(x, 1)).expand(-1, -1, *x.shape[-2:])
        return self.project(torch.cat([b(x) for b in self.branches] + [pooled], 1))
