"""Gradient flow: every trainable parameter is reached; probe heads never touch the main model."""

import pytest
import torch

import gald


def _wake_zero_init(model):
    # Zero-initialised residual gammas (BN/GN weights) block gradients to the layers before them at
    # step 0 by design; give them non-zero values so the test checks graph connectivity.
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.GroupNorm)):
            torch.nn.init.constant_(m.weight, 1.0)


@pytest.mark.parametrize("arrangement", gald.ARRANGEMENTS)
def test_gradients_reach_every_parameter(arrangement):
    torch.manual_seed(0)
    model = gald.build_model(num_classes=3, arrangement=arrangement, mid_channels=32).train()
    _wake_zero_init(model)
    out = model(torch.randn(2, 3, 64, 80))
    target = torch.randint(0, 3, (2, 64, 80))
    gald.GALDLoss(ohem=True)(out, target)["total"].backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert dead == []


def test_probe_heads_send_no_gradient_into_main_model():
    model = gald.build_model(num_classes=3, mid_channels=32).train()
    _wake_zero_init(model)
    out = model(torch.randn(2, 3, 64, 80))
    (out["fcn_probe"].sum() + out["ga_probe"].sum()).backward()
    main_ids = {id(p) for p in model.main_parameters()}
    touched = [n for n, p in model.named_parameters() if id(p) in main_ids and p.grad is not None]
    assert touched == []
    probe_grads = [p.grad for n, p in model.named_parameters() if n.startswith(("fcn_probe", "ga_probe"))]
    assert probe_grads and all(g is not None and g.abs().sum() > 0 for g in probe_grads)
