"""BatchNorm folding (gald.models.fold_bn) and the inference form every entry point runs."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import gald
from gald.evaluation.inference import inference_model
from gald.models.fold_bn import fold_batchnorm


def _with_statistics(model: nn.Module) -> nn.Module:
    """Non-trivial BN statistics and affine parameters (fresh ones would make folding an identity)."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model.eval()


@pytest.mark.parametrize("backbone", ["resnet18", "efficientnet_lite0"])
def test_folded_galdnet_gives_the_same_outputs_without_batchnorm(backbone):
    torch.manual_seed(0)
    model = _with_statistics(gald.build_model(num_classes=5, backbone=backbone, mid_channels=16))
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        before = model(x)
    folded = copy.deepcopy(model)
    n = fold_batchnorm(folded, torch.zeros(1, 3, 64, 64))
    left = [name for name, m in folded.named_modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        after = folded(x)
    assert n > 10 and all(name.startswith("aux") for name in left)  # the aux head does not run in eval mode
    for key, value in before.items():
        torch.testing.assert_close(after[key], value, rtol=1e-4, atol=1e-4)


def test_fold_refuses_training_mode_and_leaves_a_shared_conv_output_alone():
    class Shared(nn.Module):  # the conv's output is read by its BN and by the skip connection
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3)

        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + y

    m = _with_statistics(Shared())
    x = torch.randn(1, 3, 8, 8)
    expected = m(x)
    assert fold_batchnorm(m, x) == 0 and isinstance(m.bn, nn.BatchNorm2d)
    torch.testing.assert_close(m(x), expected)
    with pytest.raises(ValueError, match="eval-mode"):
        fold_batchnorm(Shared().train(), x)


def test_inference_model_is_eval_channels_last_and_folded():
    model = inference_model(_with_statistics(gald.build_model(num_classes=5, mid_channels=16)), "cpu")
    conv = model.get_submodule("head.0")
    assert not model.training and conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert isinstance(model.get_submodule("head.1"), nn.Identity) and conv.bias is not None
