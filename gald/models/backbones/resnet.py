"""Dilated ResNet-18/34/50/101 in plain torch (Section 4.2: ResNet backbone, FCN-style).

Parameter names match torchvision's ResNet so ImageNet state_dicts load strictly. Dilation replaces
stride in the last stages to reach the requested output stride; the conversion happens in one place
(`_stage_strides_and_dilations`), as in timm's `make_blocks`.

Options of the authors' GALD code (libs/models/GALDNet.py), off by default: `deep_stem` (three 3x3 convs,
64-64-128 channels, then a ceil-mode max-pool; names `conv1.{0,1,3,4,6}` as in their "resnet50-deep" weights),
`multi_grid` (layer4's dilations times (1, 2, 4) block by block: 4, 8, 16 at output stride 8) and
`first_dilation="stage"` (the first block of a dilated stage uses that stage's dilation; default "previous",
timm's choice against gridding).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from .dilation import stage_strides_and_dilations

__all__ = ["ResNet", "BasicBlock", "Bottleneck", "RESNET_SPECS", "FIRST_DILATIONS", "resnet"]

FIRST_DILATIONS = ("previous", "stage")


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 first_dilation: int | None = None, downsample: nn.Module | None = None) -> None:
        super().__init__()
        first_dilation = first_dilation or dilation
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, padding=first_dilation,
                               dilation=first_dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        return self.relu(x + shortcut)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 first_dilation: int | None = None, downsample: nn.Module | None = None) -> None:
        super().__init__()
        first_dilation = first_dilation or dilation
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        # torchvision (v1.5) puts the stride on the 3x3 conv; keep it for weight compatibility.
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=first_dilation,
                               dilation=first_dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.bn3(self.conv3(x))
        return self.relu(x + shortcut)


RESNET_SPECS: dict[str, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, int, int, int]]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
    "resnet101": (Bottleneck, (3, 4, 23, 3)),
}


def _stage_strides_and_dilations(output_stride: int) -> list[tuple[int, int]]:
    """(stride, dilation) for layer1..layer4; the stem (conv1 + maxpool) already reduces by 4."""
    return stage_strides_and_dilations(output_stride, 4, (1, 2, 2, 2))


class ResNet(nn.Module):
    """ResNet trunk without the classifier. `forward` returns an ordered dict of the four stages."""

    def __init__(self, depth: str = "resnet18", output_stride: int = 8, *, deep_stem: bool = False,
                 multi_grid: tuple[int, ...] | None = None, first_dilation: str = "previous") -> None:
        super().__init__()
        if depth not in RESNET_SPECS:
            raise ValueError(f"unknown backbone {depth!r}; valid: {sorted(RESNET_SPECS)}")
        if first_dilation not in FIRST_DILATIONS:
            raise ValueError(f"unknown first_dilation {first_dilation!r}; valid: {list(FIRST_DILATIONS)}")
        if multi_grid is not None and (not multi_grid or min(multi_grid) < 1):
            raise ValueError(f"multi_grid must be positive dilation multipliers, got {multi_grid}")
        block, layers = RESNET_SPECS[depth]
        self.depth, self.output_stride = depth, output_stride
        if deep_stem:
            self.conv1 = nn.Sequential(
                nn.Conv2d(3, 64, 3, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                nn.Conv2d(64, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                nn.Conv2d(64, 128, 3, 1, 1, bias=False))
        else:
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        stem_channels = 128 if deep_stem else 64
        self.bn1 = nn.BatchNorm2d(stem_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1, ceil_mode=deep_stem)
        self.inplanes, prev_dilation = stem_channels, 1
        plan = _stage_strides_and_dilations(output_stride)
        for i, ((stride, dilation), n_blocks, planes) in enumerate(zip(plan, layers, (64, 128, 256, 512), strict=True)):
            grid = tuple(multi_grid) if multi_grid and i == 3 else (1,)
            first = dilation if first_dilation == "stage" else prev_dilation
            stage = self._make_layer(block, planes, n_blocks, stride, dilation, first, grid)
            self.add_module(f"layer{i + 1}", stage)
            prev_dilation = dilation
        self.out_channels = OrderedDict(
            (f"layer{i + 1}", p * block.expansion) for i, p in enumerate((64, 128, 256, 512)))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # Zero-init the last BN of each residual branch: from-scratch training (no ImageNet weights
        # offline) converges noticeably faster when every block starts as an identity.
        for m in self.modules():
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.bn3.weight)
            elif isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def _make_layer(self, block, planes: int, n_blocks: int, stride: int, dilation: int,
                    first_dilation: int, grid: tuple[int, ...] = (1,)) -> nn.Sequential:
        """Block k dilates by dilation * grid[k % len(grid)]; the first block's 3x3 by `first_dilation`
        times grid[0] (as the authors' `generate_multi_grid`)."""
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        # By default, as in timm: the first block of a newly dilated stage keeps the previous dilation, which
        # avoids gridding artefacts at the transition.
        blocks = [block(self.inplanes, planes, stride, dilation * grid[0], first_dilation * grid[0], downsample)]
        self.inplanes = planes * block.expansion
        blocks += [block(self.inplanes, planes, 1, dilation * grid[k % len(grid)]) for k in range(1, n_blocks)]
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        out: OrderedDict[str, torch.Tensor] = OrderedDict()
        for name in ("layer1", "layer2", "layer3", "layer4"):
            x = getattr(self, name)(x)
            out[name] = x
        return out


def resnet(depth: str = "resnet18", output_stride: int = 8, pretrained: str | None = None, **options) -> ResNet:
    """Build a dilated ResNet; `pretrained` is a local torchvision state_dict file or a URL (with `deep_stem`:
    a deep-stem file such as the authors' resnet50-deep.pth converted to tensors); `options` see ResNet."""
    model = ResNet(depth, output_stride, **options)
    if pretrained:
        from .pretrained import load_imagenet_weights

        load_imagenet_weights(model, pretrained)
    return model
