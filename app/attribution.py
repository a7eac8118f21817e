"""Captum attribution for one class of one head (FCN / GA / GALD, Fig. 5): which pixels drive it?

Segmentation outputs a map, captum wants one score per class, so `ClassScore` reduces the logits of a
head to (N, K): for class c, the mean logit of c over the pixels the head predicts as c on the
*original* image (a fixed region, so Integrated Gradients' interpolated inputs are scored on the same
pixels); a class the head never predicts falls back to its mean logit over the whole image.

GradCAM (default, one forward + backward) is taken on `backbone.layer4`, the feature F that all three
heads share, so the maps of the heads are comparable. Integrated Gradients is opt-in (n_steps passes, one
interpolation step per forward/backward so its memory is that of one step, app/budget.py; the same
Gauss-Legendre rule as captum's IntegratedGradients, and a deadline checked between steps).
The parameters are frozen while attributing: neither method needs weight gradients, and without them
autograd keeps no backbone activations for GradCAM (a quarter of the memory, app/budget.py).
The FCN / GA probe heads read a *detached* feature (they must not train the model); while attributing,
`gald.models.probe_gradients` lifts that detach so gradients reach layer4 and the input.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

import gald

HEAD_OUTPUT_KEYS = {"gald": "out", "ga": "ga_probe", "fcn": "fcn_probe"}
GRADCAM_LAYER = "backbone.layer4"
METHODS = ("gradcam", "ig")


class TimeBudgetExceeded(RuntimeError):
    """A gradient request ran past its time budget; the message says how far it got."""


@contextlib.contextmanager
def frozen_parameters(model: nn.Module) -> Iterator[None]:
    """requires_grad off for every parameter (restored after): input / layer gradients only."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def integrated_gradients(scorer: nn.Module, x: torch.Tensor, target: int, n_steps: int, *,
                         steps_per_pass: int = 1, deadline: float | None = None,
                         between_passes: Callable[[], float] | None = None) -> torch.Tensor:
    """captum's IntegratedGradients (Gauss-Legendre, zero baseline) computed `steps_per_pass` interpolation
    steps at a time, so peak memory is that of one pass whatever `n_steps` is; raises TimeBudgetExceeded
    between passes once time.monotonic() passes `deadline`. `between_passes()` runs after each pass (the
    Predictor lets a waiting analysis use the model) and returns the seconds it took, added to the deadline."""
    from captum.attr._utils.approximation_methods import approximation_parameters

    step_sizes_fn, alphas_fn = approximation_parameters("gausslegendre")
    step_sizes, alphas = step_sizes_fn(n_steps), alphas_fn(n_steps)
    baseline = torch.zeros_like(x)  # the normalised mean colour: a "grey" image
    total = torch.zeros_like(x)
    for start in range(0, n_steps, steps_per_pass):
        if deadline is not None and time.monotonic() > deadline:
            raise TimeBudgetExceeded(f"Integrated Gradients stopped after {start} of {n_steps} steps")
        chunk = alphas[start:start + steps_per_pass]
        scaled = torch.cat([baseline + a * (x - baseline) for a in chunk]).requires_grad_()
        (grads,) = torch.autograd.grad(scorer(scaled)[:, target].sum(), scaled)
        weights = torch.tensor(step_sizes[start:start + steps_per_pass], dtype=grads.dtype)
        total += (grads * weights.view(-1, 1, 1, 1).to(grads.device)).sum(0, keepdim=True)
        del scaled, grads
        if between_passes is not None and start + steps_per_pass < n_steps:
            waited = between_passes()
            deadline = None if deadline is None else deadline + waited
    return total * (x - baseline)


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


def region_at(region: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A (h, w) bool region at another (logit) resolution: a cell is in it if it overlaps the region (an
    attribution run on a downscaled input has a smaller logit grid than the analysis)."""
    if tuple(region.shape) == tuple(size):
        return region
    cover = torch.nn.functional.adaptive_max_pool2d(region[None, None].float(), size)[0, 0]
    return cover > 0


def attribute(model: nn.Module, x: torch.Tensor, head: str, class_index: int, *, method: str = "gradcam",
              n_steps: int = 8, steps_per_pass: int = 1, region: torch.Tensor | None = None,
              deadline: float | None = None, between_passes: Callable[[], float] | None = None) -> np.ndarray:
    """Heatmap in [0, 1]: (h, w) at layer4 resolution for GradCAM, (H, W) input resolution for IG.

    `region` (h, w) bool at any logit resolution (resized to this input's) replaces the default target
    region (the pixels the head predicts as the class): the pixel query explains one pixel's (small
    region's) prediction. `deadline` (time.monotonic()) stops IG between steps (TimeBudgetExceeded)."""
    from captum.attr import LayerGradCam

    if method not in METHODS:
        raise ValueError(f"unknown attribution method {method!r}; valid: {list(METHODS)}")
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad(), gald.models.probe_gradients(model), frozen_parameters(model):
            scorer = ClassScore(model, head)
            with torch.no_grad():
                logits = scorer.logits(x)
            if region is None:
                scorer.region = one_hot_prediction(logits)
            else:
                if region.ndim != 2:
                    raise ValueError(f"region must be (h, w), got {tuple(region.shape)}")
                region = region_at(region.to(logits.device), tuple(logits.shape[-2:]))
                scorer.region = region.to(logits.dtype)[None, None].expand(1, logits.shape[1], -1, -1).clone()
            if method == "gradcam":
                cam = LayerGradCam(scorer, model.get_submodule(GRADCAM_LAYER))
                attr = cam.attribute(x, target=int(class_index), relu_attributions=True)
                return _normalise(attr[0, 0])
            attr = integrated_gradients(scorer, x, int(class_index), int(n_steps), steps_per_pass=steps_per_pass,
                                        deadline=deadline, between_passes=between_passes)
            return _normalise(attr[0].abs().sum(0))
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
