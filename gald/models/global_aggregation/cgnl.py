"""Compact Generalized Non-Local block (Yue et al. 2018), the default GA module (Section 3.2).

Grouped, dot-product kernel: for each channel group a single global statistic
`sum(p * g)` over all channels *and* positions of the group is multiplied back onto `t`.
As the GALD paper does, the aggregation runs at 1/2 of the FCN feature resolution. Two structures:

- `structure="residual_full"` (ours, the default until the bundled model says otherwise): average-pool by 2,
  CGNL, upsample the context and add it to the full-resolution input. F_GA keeps every detail of F.
- `structure="official"` (the authors' GALDBlock): depth-wise 3x3 stride-2 conv + BN + ReLU, CGNL with its
  residual at half resolution, then bilinear upsampling (align_corners=True). F_GA is coarse: the
  over-smoothing that Local Distribution exists to repair.

Note: the grouped `z` conv and the GroupNorm use the same grouping, so GroupNorm divides each group's
`att * z(t)` by its own spread and the scalar `att` cancels except for its sign (tests/core/test_cgnl.py);
the gradient reaching `p` and `g` is then ~0 (tests/core/test_cgnl_gradients.py). `norm` picks the
normalisation after `z` (CGNL_NORMS): "group" is the paper's and the authors'; "layer" normalises over all
channels at once, so each group's statistic survives relative to the others'; "batch" normalises each channel
over the batch, so the statistic survives relative to other images (and wholly at inference). The derivation
is in docs/architecture.md ("Why CGNL's attention does not learn").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CGNL_STRUCTURES = ("residual_full", "official")
# normalisation after z: name -> builder(channels, groups). The module keeps the name `gn` for every kind, so
# state-dict keys do not depend on it.
CGNL_NORMS = {
    "group": lambda channels, groups: nn.GroupNorm(groups, channels),  # per sample and z group: sign(att) only
    "layer": lambda channels, groups: nn.GroupNorm(1, channels),  # per sample, across all z groups
    "batch": lambda channels, groups: nn.BatchNorm2d(channels),  # per channel, across the batch
}


def _at_least_fp32(v: torch.Tensor) -> torch.Tensor:
    return v.to(torch.promote_types(v.dtype, torch.float32))


class CGNL(nn.Module):
    def __init__(self, channels: int, *, groups: int = 8, reduction: int = 2, downsample: int = 2,
                 use_scale: bool = False, structure: str = "residual_full", norm: str = "group") -> None:
        super().__init__()
        inner = channels // reduction
        if inner % groups or channels % groups:
            raise ValueError(f"CGNL: channels {channels} and inner {inner} must be divisible by groups {groups}")
        if structure not in CGNL_STRUCTURES:
            raise ValueError(f"unknown CGNL structure {structure!r}; valid: {list(CGNL_STRUCTURES)}")
        if norm not in CGNL_NORMS:
            raise ValueError(f"unknown CGNL norm {norm!r}; valid: {list(CGNL_NORMS)}")
        if structure == "official" and downsample != 2:
            raise ValueError("the official CGNL structure downsamples by exactly 2 (one stride-2 conv)")
        self.groups, self.downsample, self.use_scale, self.structure = groups, downsample, use_scale, structure
        self.norm = norm
        self.t = nn.Conv2d(channels, inner, 1, bias=False)
        self.p = nn.Conv2d(channels, inner, 1, bias=False)
        self.g = nn.Conv2d(channels, inner, 1, bias=False)
        self.z = nn.Conv2d(inner, channels, 1, groups=groups, bias=False)
        self.gn = CGNL_NORMS[norm](channels, groups)
        if structure == "official":
            self.down = nn.Sequential(nn.Conv2d(channels, channels, 3, 2, 0, groups=channels, bias=False),
                                      nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        else:
            # Start as identity so a randomly initialised GA does not swamp the FCN feature early on.
            nn.init.zeros_(self.gn.weight)

    def statistic(self, x: torch.Tensor) -> torch.Tensor:
        """The per-group global statistic `sum(p * g)` (b, groups, 1), scaled if `use_scale`."""
        b = x.shape[0]
        # The kernel sums over c*h*w products; in bf16 that reduction overflows/loses precision (at least fp32).
        p, g = (_at_least_fp32(v).reshape(b, self.groups, -1) for v in (self.p(x), self.g(x)))
        att = (p * g).sum(-1, keepdim=True)
        return att / (p.shape[-1] ** 0.5) if self.use_scale else att

    def aggregate(self, x: torch.Tensor, att: torch.Tensor | None = None) -> torch.Tensor:
        """norm(z(att * t)); `att` replaces the computed statistic (sign-only and gradient probes)."""
        b, _, h, w = x.shape
        att = self.statistic(x) if att is None else att
        t = _at_least_fp32(self.t(x)).reshape(b, self.groups, -1)
        y = (att * t).reshape(b, -1, h, w).to(x.dtype)
        return self.gn(self.z(y))

    def aggregation_input(self, x: torch.Tensor) -> torch.Tensor:
        """What `aggregate` sees: the down-sampled feature of either structure."""
        if self.structure == "official":
            h, w = x.shape[-2:]
            # the unpadded stride-2 conv needs 3x3 inputs; tiny uploads are padded at the edge
            return self.down(F.pad(x, (0, max(3 - w, 0), 0, max(3 - h, 0)), mode="replicate"))
        return F.avg_pool2d(x, self.downsample, ceil_mode=True) if self.downsample > 1 else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        small = self.aggregation_input(x)
        if self.structure == "official":
            return F.interpolate(small + self.aggregate(small), size=(h, w), mode="bilinear", align_corners=True)
        context = self.aggregate(small)
        if context.shape[-2:] != (h, w):
            context = F.interpolate(context, size=(h, w), mode="bilinear", align_corners=False)
        return x + context
