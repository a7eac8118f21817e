"""Stage-output API: named tensors via hooks on stable submodule names."""

import torch

import gald


def test_stage_outputs_match_external_hooks():
    model = gald.build_model(num_classes=4, mid_channels=32).eval()
    seen = {}
    handles = [model.get_submodule(name).register_forward_hook(
        lambda _m, _i, out, stage=stage: seen.__setitem__(stage, out)) for stage, name in gald.STAGE_MODULES.items()]
    x = torch.randn(1, 3, 97, 131)
    stages = gald.stage_outputs(model, x)
    for h in handles:
        h.remove()
    for stage in gald.STAGE_MODULES:
        assert torch.equal(stages[stage], seen[stage]), stage
    torch.testing.assert_close(stages["F_GALD"], stages["M"] * stages["F_GA"] + stages["F_GA"])
    low = gald.stage_outputs(model, x, upsample_logits=False)
    assert low["logits_gald"].shape[-2:] == stages["F"].shape[-2:]
    assert stages["logits_gald"].shape == (1, 4, 97, 131)


def test_stage_outputs_restore_training_mode_and_skip_absent_stages():
    model = gald.build_model(num_classes=2, arrangement="fcn", mid_channels=32).train()
    stages = gald.stage_outputs(model, torch.randn(1, 3, 64, 64))
    assert model.training
    assert set(stages) == {"F", "logits_fcn", "logits_gald"}
