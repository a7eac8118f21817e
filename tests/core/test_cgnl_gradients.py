"""CGNL's attention gets no gradient once trained: GroupNorm (same grouping as z) divides each group's global
statistic a = sum(p*g) out except for its sign, so dL/da ~ eps and p, g are not trained. Controls: the same
module with one normalisation group over all channels ("layer") or no normalisation keeps p, g at the order of
t; near a = 0 (|a| sigma ~ sqrt(eps)) the gradient spikes. Derivation: docs/architecture.md."""

import math

import pytest
import torch

from gald.models.global_aggregation import CGNL
from gald.models.global_aggregation.cgnl_probe import (
    forward_with_statistic,
    relative_gradients,
    sign_only_change,
    statistic_regime,
)

TRAINED, NEAR_ZERO = 30.0, 0.1  # feature scales: |a| sigma / sqrt(eps) ~ 1e7 and ~ 0.5 (a and sigma scale too)


def _module(structure: str, norm: str, scale: float) -> tuple[CGNL, torch.Tensor]:
    """A CGNL with a trained-looking unit GN gain, and an input whose aggregated feature has `scale`.
    The official structure's BatchNorm re-normalises its input, so its gain sets the scale there."""
    torch.manual_seed(0)
    module = CGNL(64, groups=8, structure=structure, norm="group" if norm == "none" else norm).train()
    if norm == "none":
        module.gn = torch.nn.Identity()
    else:
        torch.nn.init.ones_(module.gn.weight)
    x = torch.randn(4, 64, 24, 30, dtype=torch.float64)
    module.double()  # the claims are about the algebra; in fp32 rounding noise sets a floor ~1e-7 of t's
    if structure == "official":
        with torch.no_grad():
            module.down[1].weight.mul_(scale)
            module.down[1].bias.mul_(scale)
        return module, x
    return module, scale * x


@pytest.mark.parametrize("structure", ["official", "residual_full"])
def test_trained_cgnl_sends_p_and_g_five_orders_less_gradient_than_t_and_z(structure):
    module, x = _module(structure, "group", TRAINED)
    assert statistic_regime(module, x) > 1e5  # |a| sigma >> sqrt(eps)
    r = relative_gradients(module, x)
    for attention in ("p", "g"):
        for branch in ("t", "z"):
            assert r[attention] < 1e-5 * r[branch], (attention, branch, r)
    assert sign_only_change(module.eval(), x) < 1e-5  # the output depends on a only through its sign


@pytest.mark.parametrize("structure", ["official", "residual_full"])
@pytest.mark.parametrize("norm", ["layer", "batch", "none"])
def test_control_without_per_group_norm_keeps_p_and_g_at_the_order_of_t(structure, norm):
    module, x = _module(structure, norm, TRAINED)
    r = relative_gradients(module, x)
    assert 0.1 < r["p"] / r["t"] < 10 and 0.1 < r["g"] / r["t"] < 10, r
    assert sign_only_change(module.eval(), x) > 0.01  # and |a| reaches the output


@pytest.mark.parametrize("structure", ["official", "residual_full"])
def test_gradient_spikes_near_a_zero(structure):
    near, _ = _module(structure, "group", NEAR_ZERO)
    trained, _ = _module(structure, "group", TRAINED)
    x_near, x_trained = _module(structure, "group", NEAR_ZERO)[1], _module(structure, "group", TRAINED)[1]
    assert statistic_regime(near, x_near) < 10
    r_near, r_trained = relative_gradients(near, x_near), relative_gradients(trained, x_trained)
    assert r_near["p"] / r_near["t"] > 1e4 * r_trained["p"] / r_trained["t"]
    assert r_near["p"] / r_near["t"] > 0.1  # at the order of t's, like the controls


def test_dloss_da_peaks_at_zero_and_falls_with_the_cube_of_a():
    """d/da of GN(a u) = eps-term / (a^2 s^2 + eps)^(3/2): the explicit statistic as a leaf tensor."""
    module, x = _module("residual_full", "group", 1.0)
    module.eval()
    small = module.aggregation_input(x)
    base = module.statistic(small).detach()
    sigma_over_sqrt_eps = statistic_regime(module, x) / float(base.abs().median())
    r = torch.randn(module.aggregate(small).shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    grads = []
    for regime in (1.0, 1e2, 1e4):
        att = (torch.sign(base) * regime / sigma_over_sqrt_eps).requires_grad_(True)
        (module.aggregate(small, att) * r).sum().backward()
        grads.append(float(att.grad.norm() * att.detach().norm()))  # scale-free: |dL/dlog a|
    # |a| dL/da ~ (a^2 s^2 / eps)^-1 for |a| s >> sqrt(eps): each factor 100 in |a| s costs a factor 1e4
    assert math.log10(grads[0] / grads[1]) == pytest.approx(4.0, abs=0.7)
    assert math.log10(grads[1] / grads[2]) == pytest.approx(4.0, abs=0.2)


def test_forward_with_statistic_is_the_forward():
    module, x = _module("official", "group", 1.0)
    module.eval()
    torch.testing.assert_close(forward_with_statistic(module, x), module(x))
