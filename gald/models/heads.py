"""Segmentation heads: the main head of Eq. (3), the auxiliary head and the probe heads (Fig. 5)."""

from __future__ import annotations

import torch
from torch import nn


class SegHead(nn.Sequential):
    """3x3 conv-BN-ReLU -> dropout -> 1x1 classifier."""

    def __init__(self, in_channels: int, mid_channels: int, num_classes: int, dropout: float = 0.1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, mid_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
            nn.Dropout2d(dropout),
            nn.Conv2d(mid_channels, num_classes, 1),
        )

    @property
    def classifier(self) -> nn.Conv2d:
        return self[-1]


class ProbeHead(SegHead):
    """A head trained on a *detached* feature: it reads a stage without changing the main model."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.detach())
