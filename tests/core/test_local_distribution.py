"""LD module (Eq. 1-2), its Table 1(e) alternatives and the authors' variant."""

import pytest
import torch

import gald
from gald.models.local_distribution import LD_DOWNSAMPLING, LocalDistribution


@pytest.mark.parametrize("downsample", LD_DOWNSAMPLING)
@pytest.mark.parametrize("hw", [(13, 17), (45, 60), (1, 1)])
def test_mask_in_unit_interval_and_eq2(downsample, hw):
    ld = LocalDistribution(16, downsample=downsample).eval()
    f_ga = torch.randn(2, 16, *hw) * 5
    m = ld.mask(f_ga)
    assert m.shape == f_ga.shape
    assert m.min() >= 0 and m.max() <= 1
    torch.testing.assert_close(ld(f_ga), m * f_ga + f_ga)


def test_dwconv_depth_matches_rate_and_is_depthwise():
    ld = LocalDistribution(8, rate=8)
    convs = [m for m in ld.spatial_operator if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 3  # log2(8) stride-2 convs
    assert all(c.groups == 8 and c.stride == (2, 2) for c in convs)
    # Paper: no ReLU after the last conv, so M can go below 0.5.
    assert not isinstance(ld.spatial_operator[-1], torch.nn.ReLU)


def test_mask_can_go_below_half_in_paper_variant():
    ld = LocalDistribution(4).eval()
    # a constant input of one sign or the other drives sigmoid(W x + b) below 0.5 whatever the random weights
    low = min(float(ld.mask(s * 10 * torch.ones(1, 4, 16, 16)).detach().min()) for s in (-1, 1))
    assert low < 0.5


def test_authors_variant_keeps_mask_in_upper_half():
    ld = LocalDistribution(8, variant="authors").eval()
    f_ga = torch.randn(1, 8, 20, 24) * 3
    m = ld.mask(f_ga)
    assert m.min() >= 0.5 and m.max() < 1
    torch.testing.assert_close(ld(f_ga), 2 * f_ga + m * f_ga)


def test_ld_disabled_passes_ga_through():
    ld = LocalDistribution(8).eval()
    ld.enabled = False
    x = torch.randn(1, 8, 9, 11)
    assert torch.equal(ld(x), x)


def test_ld_disabled_equals_ga_only_model():
    torch.manual_seed(0)
    gald_model = gald.build_model(num_classes=4, arrangement="gald", mid_channels=32).eval()
    ga_model = gald.build_model(num_classes=4, arrangement="ga", mid_channels=32).eval()
    missing, unexpected = ga_model.load_state_dict(gald_model.state_dict(), strict=False)
    assert missing == [] and all(k.startswith("local_distribution.") for k in unexpected) and unexpected
    x = torch.randn(1, 3, 97, 131)
    off = gald.stage_outputs(gald_model, x, ld_enabled=False)
    ref = gald.stage_outputs(ga_model, x)
    assert "M" not in off
    assert torch.equal(off["F_GALD"], off["F_GA"])
    torch.testing.assert_close(off["logits_gald"], ref["logits_gald"])
    on = gald.stage_outputs(gald_model, x)
    assert not torch.allclose(on["logits_gald"], ref["logits_gald"])
    assert gald_model.ld_enabled  # the switch is restored


def test_authors_variant_is_the_official_code():
    """GALD-Net's LocalAttenModule: unpadded depth-wise 3x3 stride-2 convs with bias, BN + ReLU after each,
    align_corners=True upsampling; off means M := 0 in its own formula (2 F_GA)."""
    torch.manual_seed(0)
    ld = LocalDistribution(8, variant="authors").eval()
    convs = [m for m in ld.spatial_operator if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 3 and all(c.padding == (0, 0) and c.bias is not None for c in convs)
    assert sum(isinstance(m, torch.nn.ReLU) for m in ld.spatial_operator) == 3
    f_ga = torch.randn(1, 8, 23, 30)
    x = f_ga
    for layer in ld.spatial_operator:
        x = layer(x)
    ref = torch.sigmoid(torch.nn.functional.interpolate(x, size=(23, 30), mode="bilinear", align_corners=True))
    torch.testing.assert_close(ld.mask(f_ga), ref)
    ld.enabled = False
    torch.testing.assert_close(ld(f_ga), 2 * f_ga)


def test_authors_variant_model_has_convb_and_ld_off_is_two_f_ga():
    torch.manual_seed(0)
    model = gald.build_model(num_classes=4, ld_variant="authors", mid_channels=32).eval()
    assert isinstance(model.convb[0], torch.nn.Conv2d) and model.convb[0].kernel_size == (3, 3)
    x = torch.randn(1, 3, 64, 80)
    off = gald.stage_outputs(model, x, ld_enabled=False, upsample_logits=False)
    torch.testing.assert_close(off["F_GALD"], 2 * off["F_GA"])
    on = gald.stage_outputs(model, x, ld_off_logits=True, upsample_logits=False)
    torch.testing.assert_close(on["logits_gald_ld_off"], off["logits_gald"])
    # tiny inputs still run through the unpadded convs
    gald.stage_outputs(model, torch.randn(1, 3, 9, 9))
