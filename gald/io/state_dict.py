"""Strict state-dict loading shared by checkpoints, `init_checkpoint` and ImageNet backbone weights.

One rule everywhere: every key and every shape must match, or nothing is loaded and the error names what
differs (a half-loaded model trains or predicts silently wrong). Tensors are cast to the model's own dtypes,
so fp16 storage loads into an fp32 model.
"""

from __future__ import annotations

import torch
from torch import nn


def state_dict_mismatch(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor]
                        ) -> tuple[list[str], list[str], list[str]]:
    """(missing keys, unexpected keys, shape mismatches) of `state` against a model's own state dict."""
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in sorted(own.keys() & state.keys()) if own[k].shape != state[k].shape]
    return missing, unexpected, shapes


def _listed(items: list[str], limit: int) -> str:
    return f"{items[:limit]}{' ...' if len(items) > limit else ''}"


def load_state_strict(model: nn.Module, state: dict[str, torch.Tensor], *, what: str, target: str,
                      error: type[Exception] = ValueError, hint: str = "") -> None:
    """Load `state` into `model` if it matches exactly; otherwise raise `error("{what} does not match
    {target}.{hint} missing keys [...]; unexpected keys [...]; shape mismatches [...]")`."""
    own = model.state_dict()
    missing, unexpected, shapes = state_dict_mismatch(own, state)
    if missing or unexpected or shapes:
        raise error(f"{what} does not match {target}.{hint} missing keys {_listed(missing, 20)}; "
                    f"unexpected keys {_listed(unexpected, 20)}; shape mismatches {_listed(shapes, 10)}")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True)
