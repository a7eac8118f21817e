"""Non-Local block (Wang et al. 2018), embedded-Gaussian form, as a GA alternative (Table 1(a)).

Keys and values are max-pooled by 2 (the sub-sampling trick of the NL paper) to cut the
attention matrix by 4x; queries stay at full resolution so the output needs no upsampling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class NonLocal(nn.Module):
    def __init__(self, channels: int, *, reduction: int = 2, subsample: int = 2) -> None:
        super().__init__()
        inner = channels // reduction
        self.subsample = subsample
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.out = nn.Sequential(nn.Conv2d(inner, channels, 1, bias=False), nn.BatchNorm2d(channels))
        nn.init.zeros_(self.out[1].weight)

    def keys_and_values(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, self.subsample, ceil_mode=True) if self.subsample > 1 else x

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """(b, h*w, n) attention of every query position over the n sub-sampled key positions (rows sum to 1);
        reshape a row to `keys_and_values(x).shape[-2:]` to see where one pixel looks."""
        q = self.theta(x).flatten(2).transpose(1, 2)  # b, hw, c
        k = self.phi(self.keys_and_values(x)).flatten(2)  # b, c, n
        return torch.softmax(torch.bmm(q, k).float(), dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        v = self.g(self.keys_and_values(x)).flatten(2).transpose(1, 2)  # b, n, c
        attn = self.attention(x).to(v.dtype)
        y = torch.bmm(attn, v).transpose(1, 2).reshape(b, -1, h, w)
        return x + self.out(y)
