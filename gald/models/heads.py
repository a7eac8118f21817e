"""Segmentation heads: the main head of Eq. (3), the auxiliary head and the probe heads (Fig. 5)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

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
    """A head trained on a *detached* feature: it reads a stage without changing the main model.

    `detach_input = False` (see `probe_gradients`) lets gradients flow to the input for attribution
    methods; training always keeps the detach.
    """

    detach_input = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.detach() if self.detach_input else x)


@contextlib.contextmanager
def probe_gradients(model: nn.Module) -> Iterator[None]:
    """Temporarily let gradients pass through the probe heads (for GradCAM / IG on the FCN and GA heads)."""
    probes = [m for m in model.modules() if isinstance(m, ProbeHead)]
    for probe in probes:
        probe.detach_input = False
    try:
        yield
    finally:
        for probe in probes:
            probe.detach_input = True
