"""CGNL (the default GA) and its two structures; what its GroupNorm does to the global statistic."""

import pytest
import torch
import torch.nn.functional as F

import gald
from gald.models.global_aggregation import CGNL


def _cgnl_with_sign_only_statistic(module: CGNL, x: torch.Tensor) -> torch.Tensor:
    """CGNL's forward with the per-group statistic sum(p*g) replaced by its sign."""
    b, _, h, w = x.shape
    t, p, g = (v.reshape(b, module.groups, -1) for v in (module.t(x), module.p(x), module.g(x)))
    att = torch.sign((p * g).sum(-1, keepdim=True))
    return module.gn(module.z((att * t).reshape(b, -1, h, w)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_groupnorm_cancels_the_global_statistic_except_its_sign(seed):
    """z and GroupNorm share CGNL's grouping, so each group's scalar sum(p*g) is normalised away."""
    torch.manual_seed(seed)
    module = CGNL(64, groups=8).eval()
    torch.nn.init.ones_(module.gn.weight)  # a trained-looking GN (the default init is zero)
    torch.nn.init.normal_(module.gn.bias)
    x = torch.randn(2, 64, 12, 16)
    full = module.aggregate(x)
    sign_only = _cgnl_with_sign_only_statistic(module, x)
    # only GroupNorm's eps (1e-5 added to each group's variance) keeps a trace of |sum(p*g)|
    assert (full - sign_only).abs().max() < 0.5
    module.gn.eps = 0.0
    assert (module.aggregate(x) - _cgnl_with_sign_only_statistic(module, x)).abs().max() < 1e-3
    # the control: the statistic itself varies a lot between inputs, so it is not trivially constant
    t, p, g = (v.reshape(2, 8, -1) for v in (module.t(x), module.p(x), module.g(x)))
    att = (p * g).sum(-1)
    assert att.abs().max() / att.abs().min() > 2


def test_scaling_one_group_of_t_changes_nothing_but_scaling_the_input_region_does():
    """The aggregated output depends on the input through z(t) per position, not on the global magnitude."""
    torch.manual_seed(0)
    module = CGNL(32, groups=4).eval()
    torch.nn.init.ones_(module.gn.weight)
    x = torch.randn(1, 32, 10, 10)
    y = module.aggregate(x)
    assert torch.allclose(module.aggregate(3.0 * x), y, atol=1e-4)  # a global rescale cancels too


def test_official_structure_is_coarse_and_residual_at_half_resolution():
    torch.manual_seed(0)
    module = CGNL(32, groups=4, structure="official").eval()
    x = torch.randn(1, 32, 24, 30)
    out = module(x)
    assert out.shape == x.shape
    small = module.down(x)
    assert small.shape[-2:] == (11, 14)  # unpadded stride-2 3x3 conv
    ref = F.interpolate(small + module.aggregate(small), size=(24, 30), mode="bilinear", align_corners=True)
    torch.testing.assert_close(out, ref)
    # F_GA is a smooth upsampling of a half-resolution map: far less high-frequency energy than the input
    def roughness(t):
        return (t[..., 1:] - t[..., :-1]).abs().mean() / t.abs().mean()
    assert roughness(out) < 0.7 * roughness(x)
    module(torch.randn(1, 32, 2, 2))  # tiny maps are padded, not rejected
    with pytest.raises(ValueError, match="structure"):
        CGNL(32, structure="nope")


def test_model_builds_with_official_ga_structure():
    model = gald.build_model(num_classes=3, mid_channels=32, ga_kwargs={"structure": "official"}).eval()
    out = gald.stage_outputs(model, torch.randn(1, 3, 64, 96))
    assert out["F_GA"].shape == out["F_GALD"].shape


@pytest.mark.parametrize(("output_stride", "rates"), [(16, (6, 12, 18)), (8, (12, 24, 36))])
def test_aspp_rates_follow_output_stride(output_stride, rates):
    model = gald.build_model(num_classes=3, ga="aspp", output_stride=output_stride, mid_channels=32)
    assert model.context.rates == rates
