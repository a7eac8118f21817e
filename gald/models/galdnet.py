"""GALDNet (Section 3.3, Fig. 2): dilated ResNet -> reduce -> [GA / LD arrangement] -> head.

    F      = backbone.layer4 output                (the FCN feature)
    F_GA   = context(reduce(F))                    (GA, Section 3.2)
    F_GALD = local_distribution(F_GA)              (LD, Eq. 1-2)
    logits = head(concat(F_GALD, F))               (Eq. 3)

The submodule names (`backbone.layer4`, `context`, `local_distribution`, `local_distribution.mask_act`,
`head`, `fcn_probe`, `ga_probe`, `aux_head`) are a stable API: `gald.stages` hooks them and so can
anyone else.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import build_backbone
from .config import GALDConfig
from .global_aggregation import build_context
from .heads import ProbeHead, SegHead
from .layers import conv_bn_relu
from .local_distribution import LocalDistribution


class GALDNet(nn.Module):
    def __init__(self, config: GALDConfig | None = None, *, pretrained_backbone: str | None = None,
                 **overrides) -> None:
        super().__init__()
        if config is None:
            config = GALDConfig(**overrides)
        elif overrides:
            config = GALDConfig.from_dict({**config.to_dict(), **overrides})
        self.config = cfg = config
        self.backbone = build_backbone(cfg.backbone, cfg.output_stride, pretrained=pretrained_backbone,
                                       **cfg.backbone_kwargs)
        c_feat, mid = self.backbone.out_channels["layer4"], cfg.mid_channels
        self.reduce = conv_bn_relu(c_feat, mid, 3)
        if cfg.uses_ga:
            ga_kwargs = dict(cfg.ga_kwargs)
            if cfg.ga == "aspp":
                ga_kwargs.setdefault("output_stride", cfg.output_stride)
            self.context = build_context(cfg.ga, mid, **ga_kwargs)
        if cfg.uses_ld:
            self.local_distribution = LocalDistribution(mid, rate=cfg.ld_rate, downsample=cfg.ld_downsample,
                                                        variant=cfg.ld_variant)
            if cfg.ld_variant == "authors":
                self.convb = conv_bn_relu(mid, mid, 3)  # the official GALDHead's conv after the GALD block
        if cfg.arrangement == "parallel":
            self.parallel_fuse = conv_bn_relu(2 * mid, mid)
        self.head = SegHead(mid + c_feat, mid, cfg.num_classes, cfg.dropout)
        if cfg.aux:
            c3 = self.backbone.out_channels["layer3"]
            self.aux_head = SegHead(c3, cfg.aux_channels or c3 // 4, cfg.num_classes,
                                    cfg.dropout if cfg.aux_dropout is None else cfg.aux_dropout)
        if cfg.probes:
            self.fcn_probe = ProbeHead(c_feat, mid // 2, cfg.num_classes, 0.0)
            if cfg.uses_ga:
                self.ga_probe = ProbeHead(mid, mid // 2, cfg.num_classes, 0.0)

    @property
    def ld_enabled(self) -> bool:
        return getattr(self, "local_distribution", None) is not None and self.local_distribution.enabled

    @ld_enabled.setter
    def ld_enabled(self, value: bool) -> None:
        if hasattr(self, "local_distribution"):
            self.local_distribution.enabled = bool(value)

    def _aggregate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Apply the configured arrangement; returns (fused feature, F_GA or None)."""
        arrangement = self.config.arrangement
        if arrangement == "fcn":
            return x, None
        if arrangement == "ga":
            f_ga = self.context(x)
            return f_ga, f_ga
        if arrangement == "ld":
            return self.local_distribution(x), None
        if arrangement == "gald":
            f_ga = self.context(x)
            return self.local_distribution(f_ga), f_ga
        if arrangement == "ldga":
            f_ga = self.context(self.local_distribution(x))
            return f_ga, f_ga
        f_ga = self.context(x)  # parallel: LD sees F, not F_GA
        return self.parallel_fuse(torch.cat([f_ga, self.local_distribution(x)], 1)), f_ga

    def classify(self, fused: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """Eq. 3: the main head on concat(fused feature, F) (through `convb` in the authors' variant)."""
        if hasattr(self, "convb"):
            fused = self.convb(fused)
        return self.head(torch.cat([fused, f], 1))

    def forward(self, images: torch.Tensor, *, upsample: bool = True) -> OrderedDict[str, torch.Tensor]:
        """Named logits: `out` (main head), `aux` (training only), `fcn_probe`, `ga_probe`."""
        size = images.shape[-2:]
        feats = self.backbone(images)
        f = feats["layer4"]
        fused, f_ga = self._aggregate(self.reduce(f))
        logits: OrderedDict[str, torch.Tensor] = OrderedDict()
        logits["out"] = self.classify(fused, f)
        if self.training and self.config.aux:
            logits["aux"] = self.aux_head(feats["layer3"])
        if self.config.probes:
            logits["fcn_probe"] = self.fcn_probe(f)
            if f_ga is not None:
                logits["ga_probe"] = self.ga_probe(f_ga)
        if upsample:
            for k, v in logits.items():
                logits[k] = self.upsample_logits(v, size)
        return logits

    @staticmethod
    def upsample_logits(logits: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
        """Feature-resolution logits -> the network input's size: what `forward` returns (and what the app's
        class maps start from after a `forward(upsample=False)` pass)."""
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)

    def main_parameters(self) -> list[nn.Parameter]:
        """Parameters of the segmentation model proper (everything except the probe heads)."""
        probe_ids = {id(p) for name in ("fcn_probe", "ga_probe") if hasattr(self, name)
                     for p in getattr(self, name).parameters()}
        return [p for p in self.parameters() if id(p) not in probe_ids]


def build_model(config: GALDConfig | dict | None = None, **overrides) -> GALDNet:
    """Build a GALDNet from a config object, a dict (e.g. checkpoint metadata) or keyword overrides."""
    if isinstance(config, dict):
        config = GALDConfig.from_dict({**config, **overrides})
        overrides = {}
    return GALDNet(config, **overrides)
