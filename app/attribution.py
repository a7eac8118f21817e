"""Captum attribution for one class of one head (FCN / GA / GALD, Fig. 5): which pixels drive it?

Segmentation outputs a map, captum wants one score per class, so `ClassScore` reduces the logits of a
head to (N, K): for class c, the mean logit of c over the pixels the head predicts as c on the
*original* image (a fixed region, so Integrated Gradients' interpolated inputs are scored on the same
pixels); a class the head never predicts falls back to its mean logit over the whole image.

GradCAM (default, one forward + backward) is taken on `backbone.layer4`, the feature F that all three
heads share, so the maps of the heads are comparable. Integrated Gradients is opt-in (n_steps passes).
The FCN / GA probe heads read a *detached* feature (they must not train the model); while attributing,
`gald.models.probe_gradients` lifts that detach so gradients reach layer4 and the input.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import gald

HEAD_OUTPUT_KEYS = {"gald": "out", "ga": "ga_probe", "fcn": "fcn_probe"}
GRADCAM_LAYER = "backbone.layer4"
METHODS = ("gradcam", "ig")


class ClassScore(nn.Module):
    """(N, 3, H, W) images -> (N, K) class scores of one head (see module docstring)."""

    def __init__(self, model: nn.Module, head: str, region: torch.Tensor | None = None) -> None:
        super().__init__()
        if head not in HEAD_OUTPUT_KEYS:
            raise ValueError(f"unknown head {head!r}; valid: {list(HEAD_OUTPUT_KEYS)}")
        self.model, self.key = model, HEAD_OUTPUT_KEYS[head]
        self.region = region  # (1, K, h, w) one-hot of the prediction on the real image

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x, upsample=False)
        if self.key not in out:
            raise ValueError(f"this model has no {self.key!r} output (arrangement without that head)")
        return out[self.key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.logits(x)
        region = self.region
        if region is None:
            region = one_hot_prediction(logits.detach())
        area = region.sum((2, 3))
        masked = (logits * region).sum((2, 3)) / area.clamp_min(1.0)
        return torch.where(area > 0, masked, logits.mean((2, 3)))


def one_hot_prediction(logits: torch.Tensor) -> torch.Tensor:
    k = logits.shape[1]
    return torch.nn.functional.one_hot(logits.argmax(1), k).permute(0, 3, 1, 2).to(logits.dtype)


def _normalise(heat: torch.Tensor) -> np.ndarray:
    heat = heat.detach().float().cpu().numpy()
    top = float(np.percentile(heat, 99.5)) if heat.size else 0.0
    if top <= 0:
        return np.zeros_like(heat, dtype=np.float32)
    return np.clip(heat / top, 0.0, 1.0).astype(np.float32)


def attribute(model: nn.Module, x: torch.Tensor, head: str, class_index: int, *, method: str = "gradcam",
              n_steps: int = 8, internal_batch_size: int = 2, region: torch.Tensor | None = None) -> np.ndarray:
    """Heatmap in [0, 1]: (h, w) at layer4 resolution for GradCAM, (H, W) input resolution for IG.

    `region` (h, w) bool at the head's logit resolution replaces the default target region (the pixels the
    head predicts as the class): the pixel query explains one pixel's (small region's) prediction."""
    from captum.attr import IntegratedGradients, LayerGradCam

    if method not in METHODS:
        raise ValueError(f"unknown attribution method {method!r}; valid: {list(METHODS)}")
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad(), gald.models.probe_gradients(model):
            scorer = ClassScore(model, head)
            with torch.no_grad():
                logits = scorer.logits(x)
            if region is None:
                scorer.region = one_hot_prediction(logits)
            else:
                if tuple(region.shape) != tuple(logits.shape[-2:]):
                    raise ValueError(f"region {tuple(region.shape)} does not match the logits "
                                     f"{tuple(logits.shape[-2:])}")
                scorer.region = region.to(logits.dtype)[None, None].expand(1, logits.shape[1], -1, -1).clone()
            if method == "gradcam":
                cam = LayerGradCam(scorer, model.get_submodule(GRADCAM_LAYER))
                attr = cam.attribute(x, target=int(class_index), relu_attributions=True)
                return _normalise(attr[0, 0])
            ig = IntegratedGradients(scorer)
            baseline = torch.zeros_like(x)  # the normalised mean colour: a "grey" image
            attr = ig.attribute(x, baselines=baseline, target=int(class_index), n_steps=int(n_steps),
                                internal_batch_size=internal_batch_size)
            return _normalise(attr[0].abs().sum(0))
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
