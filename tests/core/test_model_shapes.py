"""Output sizes for odd inputs across backbones, GA modules and arrangements (Section 3.3, Table 1)."""

import pytest
import torch

import gald
from gald.models.backbones import RESNET_SPECS
from gald.models.global_aggregation import GA_MODULES

SIZES = [(97, 131), (360, 480)]


def _check_logits(out, n, k, size):
    for key, v in out.items():
        assert v.shape == (n, k, *size), key


@pytest.mark.parametrize("backbone", sorted(RESNET_SPECS))
@pytest.mark.parametrize("size", SIZES)
def test_every_backbone_keeps_input_size(backbone, size):
    model = gald.build_model(num_classes=5, backbone=backbone, mid_channels=64).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, *size))
    assert set(out) == {"out", "fcn_probe", "ga_probe"}
    _check_logits(out, 1, 5, size)


@pytest.mark.parametrize("ga", sorted(GA_MODULES))
@pytest.mark.parametrize("arrangement", gald.ARRANGEMENTS)
def test_every_ga_and_arrangement_on_odd_input(ga, arrangement):
    model = gald.build_model(num_classes=3, ga=ga, arrangement=arrangement, mid_channels=32).train()
    out = model(torch.randn(2, 3, 97, 131))
    expected = {"out", "aux", "fcn_probe"} | ({"ga_probe"} if model.config.uses_ga else set())
    assert set(out) == expected
    _check_logits(out, 2, 3, (97, 131))


@pytest.mark.parametrize("ga", sorted(GA_MODULES))
def test_every_ga_with_ld_at_camvid_size(ga):
    model = gald.build_model(num_classes=11, ga=ga, mid_channels=64).eval()
    stages = gald.stage_outputs(model, torch.randn(1, 3, 360, 480))
    assert stages["F"].shape == (1, 512, 45, 60)
    assert stages["F_GA"].shape == stages["F_GALD"].shape == stages["M"].shape == (1, 64, 45, 60)
    for key in ("logits_fcn", "logits_ga", "logits_gald"):
        assert stages[key].shape == (1, 11, 360, 480)


@pytest.mark.parametrize("output_stride,feature", [(8, (13, 17)), (16, (7, 9)), (32, (4, 5))])
def test_output_stride_is_converted_to_dilation(output_stride, feature):
    model = gald.build_model(num_classes=2, output_stride=output_stride, mid_channels=32).eval()
    stages = gald.stage_outputs(model, torch.randn(1, 3, 97, 131))
    assert stages["F"].shape[-2:] == feature
    dilations = {m.dilation[0] for m in model.backbone.layer4.modules() if isinstance(m, torch.nn.Conv2d)}
    assert max(dilations) == {8: 4, 16: 2, 32: 1}[output_stride]


def test_unknown_names_list_valid_ones():
    with pytest.raises(ValueError, match="valid:.*cgnl"):
        gald.build_model(ga="transformer")
    with pytest.raises(ValueError, match="valid:.*resnet50"):
        gald.build_model(backbone="vgg16")
    with pytest.raises(ValueError, match="valid:.*ldga"):
        gald.build_model(arrangement="sideways")
    with pytest.raises(ValueError, match="output_stride"):
        gald.build_model(output_stride=4)
