"""gald/reports/pad_to_stride.py's wrapper: outputs at the input's size, and identical to the bare network when
the input already is a multiple of the stride (nothing padded, nothing moved)."""

from __future__ import annotations

import torch

from gald import GALDConfig, GALDNet
from gald.reports.pad_to_stride import PaddedToMultiple


def _tiny() -> GALDNet:
    torch.manual_seed(0)
    return GALDNet(GALDConfig(num_classes=5, backbone="resnet18", output_stride=16)).eval()


def test_padded_outputs_have_the_input_size():
    with torch.no_grad():
        out = PaddedToMultiple(_tiny(), 16)(torch.randn(1, 3, 50, 70))
    assert out and all(v.shape[-2:] == (50, 70) for v in out.values())


def test_aligned_input_is_left_alone():
    model, x = _tiny(), torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        padded, bare = PaddedToMultiple(model, 16)(x), model(x)
    for key, v in padded.items():
        ref = torch.nn.functional.interpolate(bare[key].float(), size=(64, 96), mode="bilinear", align_corners=False)
        assert torch.allclose(v, ref, atol=1e-5)
