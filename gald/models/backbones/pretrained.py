"""Strict loading of torchvision-format ImageNet weights into `ResNet`.

Only the classifier (`fc.*`), which a segmentation trunk does not have, is dropped, and by name:
everything else must match exactly, so a wrong depth or a foreign file fails loudly instead of
silently training from a half-initialised network.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ...io.state_dict import load_state_strict

CLASSIFIER_KEYS = ("fc.weight", "fc.bias")


class PretrainedWeightsError(RuntimeError):
    """The ImageNet weights could not be obtained or do not fit the backbone."""


def read_state_dict(source: str) -> dict[str, torch.Tensor]:
    if source.startswith(("http://", "https://")):
        try:
            # weights_only=True: a downloaded file is untrusted and must never be unpickled freely.
            return torch.hub.load_state_dict_from_url(source, map_location="cpu", weights_only=True,
                                                      progress=True)
        except Exception as exc:  # urllib raises many types; all mean "could not fetch"
            raise PretrainedWeightsError(
                f"could not download ImageNet weights from {source} ({type(exc).__name__}: {exc}). "
                "This machine may be offline: download the torchvision ResNet weights elsewhere and "
                "pass the local file path instead.") from exc
    path = Path(source)
    if not path.is_file():
        raise PretrainedWeightsError(f"pretrained weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise PretrainedWeightsError(f"{path} is not a readable tensor-only state_dict: {exc}") from exc


def load_strict(model: nn.Module, state: dict[str, torch.Tensor], source: object, name: str | None = None) -> None:
    """Load `state` into `model` only if every key and shape matches; otherwise say exactly what differs."""
    load_state_strict(model, state, what=f"pretrained weights {source}", target=name or type(model).__name__,
                      error=PretrainedWeightsError)


def load_imagenet_weights(model: nn.Module, source: str) -> None:
    state = read_state_dict(source)
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    state = {k: v for k, v in state.items() if k not in CLASSIFIER_KEYS}
    load_strict(model, state, source)
