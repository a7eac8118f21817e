"""Losses (Section 3.3): OHEM cross-entropy for the main head, plain CE for the auxiliary and probe heads."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..data.constants import IGNORE_INDEX

# The official run keeps at least 100000 pixels of each 769x769 crop (one crop per GPU): ~17 % of a crop.
OFFICIAL_MIN_KEPT = 100000
OFFICIAL_MIN_KEPT_RATIO = OFFICIAL_MIN_KEPT / (769 * 769)


class OhemCrossEntropy(nn.Module):
    """Online hard example mining: average the CE over pixels whose target probability is below
    `thresh`, but never over fewer than `min_kept` pixels (the hardest ones).

    As in the official code, where each GPU holds one crop, mining is done per crop and the loss is the mean
    over crops of each crop's mean. The minimum is `min_kept` pixels per crop when given (the official code's
    absolute `--ohem_keep 100000`), else `max(min_kept_ratio * n_valid_in_crop, 1)` (a crop-size-free variant
    for small crops). A crop with fewer valid pixels than the minimum keeps all of them, as officially.
    """

    def __init__(self, thresh: float = 0.7, min_kept_ratio: float = OFFICIAL_MIN_KEPT_RATIO,
                 ignore_index: int = IGNORE_INDEX, min_kept: int | None = None) -> None:
        super().__init__()
        if min_kept is not None and min_kept < 1:
            raise ValueError(f"min_kept must be a positive pixel count, got {min_kept}")
        self.thresh, self.min_kept_ratio, self.ignore_index = thresh, min_kept_ratio, ignore_index
        self.min_kept = min_kept

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pixel_loss = F.cross_entropy(logits.float(), target, ignore_index=self.ignore_index,
                                     reduction="none").flatten(1)
        valid = target.flatten(1) != self.ignore_index
        per_crop = []
        for losses, ok in zip(pixel_loss, valid, strict=True):
            n_valid = int(ok.sum())
            if n_valid == 0:
                continue
            losses = losses[ok]
            prob = torch.exp(-losses.detach())  # probability of the target class
            min_kept = self.min_kept or max(int(self.min_kept_ratio * n_valid), 1)
            threshold = self.thresh
            if min_kept < n_valid:
                threshold = max(threshold, torch.kthvalue(prob, min_kept).values.item())
            else:
                threshold = 1.0
            per_crop.append(losses[prob <= threshold].mean())
        if not per_crop:
            return logits.sum() * 0.0  # keeps the graph (DDP needs every rank to backprop)
        return torch.stack(per_crop).mean()


class GALDLoss(nn.Module):
    """OHEM on `out` + `aux_weight` * CE on `aux` + CE on each probe head (detached: it only trains the probe)."""

    def __init__(self, ohem: bool = True, thresh: float = 0.7, min_kept_ratio: float = OFFICIAL_MIN_KEPT_RATIO,
                 aux_weight: float = 0.4, probe_weight: float = 1.0, ignore_index: int = IGNORE_INDEX,
                 min_kept: int | None = None) -> None:
        super().__init__()
        self.main = (OhemCrossEntropy(thresh, min_kept_ratio, ignore_index, min_kept) if ohem
                     else nn.CrossEntropyLoss(ignore_index=ignore_index))
        self.ce = nn.CrossEntropyLoss(ignore_index=ignore_index)
        self.aux_weight, self.probe_weight = aux_weight, probe_weight

    def forward(self, logits: dict[str, torch.Tensor], target: torch.Tensor) -> dict[str, torch.Tensor]:
        parts = {"main": self.main(logits["out"], target)}
        if "aux" in logits:
            parts["aux"] = self.aux_weight * self.ce(logits["aux"].float(), target)
        for key in ("fcn_probe", "ga_probe"):
            if key in logits:
                parts[key] = self.probe_weight * self.ce(logits[key].float(), target)
        parts["total"] = sum(parts.values())
        return parts
