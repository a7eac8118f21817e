"""Stage-output API (Fig. 4 and 5): the named intermediate tensors of one forward pass.

Collected with forward hooks on the stable submodule names of `GALDNet`, so the same tensors can
be read by anyone with `model.get_submodule(name).register_forward_hook(...)`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F

from .galdnet import GALDNet

# stage name -> submodule whose forward output *is* that stage
STAGE_MODULES: dict[str, str] = {
    "F": "backbone.layer4",
    "F_GA": "context",
    "F_GALD": "local_distribution",
    "M": "local_distribution.mask_act",
}
# stage name -> key in GALDNet.forward's output dict
LOGIT_KEYS: dict[str, str] = {"logits_fcn": "fcn_probe", "logits_ga": "ga_probe", "logits_gald": "out"}


@contextlib.contextmanager
def ld_switch(model: GALDNet, enabled: bool) -> Iterator[None]:
    """Temporarily turn the LD module on or off (off: M := 0, i.e. F_GALD = F_GA, or 2 F_GA for the authors' LD)."""
    previous = model.ld_enabled
    model.ld_enabled = enabled
    try:
        yield
    finally:
        model.ld_enabled = previous


def _ld_off_logits(model: GALDNet, images: torch.Tensor, logits: dict[str, torch.Tensor],
                   captured: dict[str, torch.Tensor], ld_enabled: bool) -> torch.Tensor:
    if not ld_enabled:
        return logits["out"]
    if model.config.arrangement == "gald":
        # With LD off (M := 0) the head sees concat(F_GA, F) (Eq. 3 without Eq. 2), 2 F_GA for the authors' LD.
        return model.classify(model.local_distribution.disabled_output(captured["F_GA"]), captured["F"])
    with ld_switch(model, False):  # LD sits before or beside GA: everything downstream changes
        return model(images, upsample=False)["out"]


@torch.no_grad()
def stage_outputs(model: GALDNet, images: torch.Tensor, *, upsample_logits: bool = True,
                  ld_enabled: bool = True, ld_off_logits: bool = False) -> dict[str, torch.Tensor]:
    """Run `images` (N,3,H,W, normalised) once and return the named stages that exist in this model.

    Keys: `F` (backbone feature), `F_GA`, `F_GALD`, `M` (LD mask, in [0, 1]), and `logits_fcn`,
    `logits_ga`, `logits_gald` (the FCN probe, GA probe and main heads), upsampled to H x W unless
    `upsample_logits=False`. Stages absent from an arrangement (e.g. `F_GA` in the FCN baseline) are
    omitted. With `ld_enabled=False`, `M` := 0: `F_GALD` equals `F_GA` (2 `F_GA` for
    `ld_variant="authors"`) and `M` is not produced.
    `ld_off_logits=True` adds `logits_gald_ld_off`, the main head with LD disabled; in the GALD
    arrangement it is the head applied to concat(F_GA, F) from this same pass (no second backbone run).
    """
    captured: dict[str, torch.Tensor] = {}
    handles = []
    for stage, module_name in STAGE_MODULES.items():
        try:
            module = model.get_submodule(module_name)
        except AttributeError:
            continue

        def hook(_module, _inputs, output, stage=stage):
            captured[stage] = output.detach()

        handles.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with ld_switch(model, ld_enabled):
            logits = model(images, upsample=False)
        for h in handles:
            h.remove()
        logit_maps = {stage: logits[key] for stage, key in LOGIT_KEYS.items() if key in logits}
        if ld_off_logits and model.config.uses_ld:
            logit_maps["logits_gald_ld_off"] = _ld_off_logits(model, images, logits, captured, ld_enabled)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    if model.config.arrangement in ("ldga", "ld", "parallel"):
        # In these arrangements the LD output is not "GA then LD": keep the mask, drop the misleading name.
        captured.pop("F_GALD", None)
    for stage, out in logit_maps.items():
        if upsample_logits:
            out = F.interpolate(out, size=images.shape[-2:], mode="bilinear", align_corners=False)
        captured[stage] = out
    return captured
