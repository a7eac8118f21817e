"""Local Distribution (LD), Section 3.2, Eq. (1)-(2).

    M = sigmoid(upsample(W_d F_GA)),   F_GALD = M * F_GA + F_GA

`W_d` are depth-wise stride-2 convolutions, log2(d) of them, so each channel (a latent pattern)
gets its own spatial operator that estimates the pattern's extent. Table 1(e)'s parameter-free
alternatives (average pooling, bilinear downsampling) are selectable. `variant="authors"` is the
public GALD-Net code exactly: unpadded depth-wise convs with bias, BN and a ReLU after each (so M is in
[0.5, 1)), align_corners=True upsampling, and output 2*F_GA + M*F_GA (GALDBlock adds F_GA once more);
GALDNet adds the code's 3x3 conv-BN-ReLU `convb` before the concat. Disabled, each variant sets M := 0
in its own formula: F_GA (paper) or 2*F_GA (authors).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LD_DOWNSAMPLING = ("dwconv", "avgpool", "bilinear")
LD_VARIANTS = ("paper", "authors")


class LocalDistribution(nn.Module):
    def __init__(self, channels: int, *, rate: int = 8, downsample: str = "dwconv",
                 variant: str = "paper") -> None:
        super().__init__()
        if downsample not in LD_DOWNSAMPLING:
            raise ValueError(f"unknown LD downsampling {downsample!r}; valid: {list(LD_DOWNSAMPLING)}")
        if variant not in LD_VARIANTS:
            raise ValueError(f"unknown LD variant {variant!r}; valid: {list(LD_VARIANTS)}")
        if rate < 1 or rate & (rate - 1):
            raise ValueError(f"LD downsampling rate must be a power of two, got {rate}")
        self.rate, self.downsample_mode, self.variant = rate, downsample, variant
        # Inference switch: False passes F_GA through unchanged (M := 0 in Eq. 2).
        self.enabled = True
        n_convs = int(math.log2(rate))
        layers: list[nn.Module] = []
        authors = variant == "authors"
        if downsample == "dwconv":
            for i in range(n_convs):
                layers += [nn.Conv2d(channels, channels, 3, 2, 0 if authors else 1, groups=channels, bias=authors),
                           nn.BatchNorm2d(channels)]
                # The paper's M spans (0, 1): no ReLU after the last conv (the authors' code has one).
                if i < n_convs - 1 or variant == "authors":
                    layers.append(nn.ReLU(inplace=True))
        self.spatial_operator = nn.Sequential(*layers)
        # A named module so hooks can read the mask M directly.
        self.mask_act = nn.Sigmoid()

    def _downsample(self, x: torch.Tensor) -> torch.Tensor:
        if self.downsample_mode == "dwconv":
            if self.variant == "paper":
                return self.spatial_operator(x)
            for layer in self.spatial_operator:
                if isinstance(layer, nn.Conv2d):  # unpadded 3x3: pad maps smaller than 3 at the edge
                    h, w = x.shape[-2:]
                    x = F.pad(x, (0, max(3 - w, 0), 0, max(3 - h, 0)), mode="replicate")
                x = layer(x)
            return x
        h, w = x.shape[-2:]
        if self.downsample_mode == "avgpool":
            return F.avg_pool2d(x, self.rate, ceil_mode=True)
        size = (math.ceil(h / self.rate), math.ceil(w / self.rate))
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

    def mask(self, f_ga: torch.Tensor) -> torch.Tensor:
        """Eq. (1). Explicit output size (not a scale factor) so odd feature sizes round-trip."""
        coarse = self._downsample(f_ga)
        up = F.interpolate(coarse, size=f_ga.shape[-2:], mode="bilinear", align_corners=self.variant == "authors")
        return self.mask_act(up)

    def disabled_output(self, f_ga: torch.Tensor) -> torch.Tensor:
        """Eq. 2 with M := 0 in this variant's own formula."""
        return 2 * f_ga if self.variant == "authors" else f_ga

    def forward(self, f_ga: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return self.disabled_output(f_ga)
        m = self.mask(f_ga)
        if self.variant == "authors":
            return 2 * f_ga + m * f_ga
        return m * f_ga + f_ga
