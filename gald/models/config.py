"""Architecture config: everything needed to rebuild a GALDNet, serialisable to JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .backbones import BACKBONES, LITE_SPECS
from .global_aggregation import GA_MODULES
from .local_distribution import LD_DOWNSAMPLING, LD_VARIANTS

# Table 1(c) / Fig. 3 arrangements; "fcn" is the baseline, "ga"/"ld" use one module alone.
ARRANGEMENTS = ("fcn", "ga", "ld", "gald", "ldga", "parallel")


@dataclass
class GALDConfig:
    num_classes: int = 11
    backbone: str = "resnet18"
    output_stride: int = 8
    arrangement: str = "gald"
    ga: str = "cgnl"
    ga_kwargs: dict[str, Any] = field(default_factory=dict)
    ld_downsample: str = "dwconv"
    ld_rate: int = 8
    ld_variant: str = "paper"
    # None: 256 for BasicBlock ResNets, 512 for Bottleneck ones, 128 for EfficientNet-Lite (its F has 320-352
    # channels, and on a CPU the 3x3 convs at output stride 8 cost more than the trunk)
    mid_channels: int | None = None
    aux: bool = True
    probes: bool = True
    dropout: float = 0.1  # Dropout2d before the main classifier (the authors' code: none)
    # the auxiliary (layer3) head: None = c3 / 4 channels and `dropout`; the authors' code: 512 and 0.1
    aux_channels: int | None = None
    aux_dropout: float | None = None
    # ResNet options (gald.models.backbones.resnet.ResNet): deep_stem, multi_grid, first_dilation
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checks = [("backbone", self.backbone, BACKBONES), ("arrangement", self.arrangement, ARRANGEMENTS),
                  ("ga", self.ga, sorted(GA_MODULES)), ("ld_downsample", self.ld_downsample, LD_DOWNSAMPLING),
                  ("ld_variant", self.ld_variant, LD_VARIANTS), ("output_stride", self.output_stride, (8, 16, 32))]
        for name, value, valid in checks:
            if value not in valid:
                raise ValueError(f"unknown {name} {value!r}; valid: {list(valid)}")
        if not isinstance(self.num_classes, int) or self.num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {self.num_classes!r}")
        if self.mid_channels is None:
            self.mid_channels = (128 if self.backbone in LITE_SPECS
                                 else 256 if self.backbone in ("resnet18", "resnet34") else 512)

    @property
    def uses_ga(self) -> bool:
        return self.arrangement in ("ga", "gald", "ldga", "parallel")

    @property
    def uses_ld(self) -> bool:
        return self.arrangement in ("ld", "gald", "ldga", "parallel")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GALDConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown GALDConfig keys {unknown}; valid: {sorted(known)}")
        return cls(**data)
