"""OHEM cross-entropy against a brute-force reference."""

import math

import pytest
import torch
import torch.nn.functional as F

from gald.training.losses import GALDLoss, OhemCrossEntropy


def brute_force_ohem_crop(logits, target, thresh, ratio, ignore=255):
    losses, probs = [], []
    k, h, w = logits.shape
    for i in range(h):
        for j in range(w):
            t = int(target[i, j])
            if t == ignore:
                continue
            logp = F.log_softmax(logits[:, i, j].double(), 0)[t].item()
            losses.append(-logp)
            probs.append(math.exp(logp))
    if not probs:
        return None
    min_kept = max(int(ratio * len(probs)), 1)
    if min_kept >= len(probs):
        return sum(losses) / len(losses)
    threshold = max(thresh, sorted(probs)[min_kept - 1])
    kept = [loss for loss, p in zip(losses, probs, strict=True) if p <= threshold]
    return sum(kept) / len(kept)


def brute_force_ohem(logits, target, thresh, ratio):
    """The official code mines per GPU, i.e. per crop; the batch loss is the mean of the crops' losses."""
    crops = [brute_force_ohem_crop(lg, t, thresh, ratio) for lg, t in zip(logits, target, strict=True)]
    crops = [c for c in crops if c is not None]
    return sum(crops) / len(crops)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.5, 1.0])
def test_ohem_matches_brute_force(seed, ratio):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 4, 6, 7, generator=g) * 3
    target = torch.randint(0, 4, (2, 6, 7), generator=g)
    target[0, :2] = 255
    loss = OhemCrossEntropy(thresh=0.7, min_kept_ratio=ratio)(logits, target)
    expected = brute_force_ohem(logits, target, 0.7, ratio)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_ohem_default_keeps_the_official_share_of_each_crop():
    """100000 of 769x769 pixels per crop, however many crops a batch holds."""
    assert OhemCrossEntropy().min_kept_ratio == pytest.approx(100000 / 769**2)
    logits = torch.zeros(3, 2, 10, 10)  # every pixel has p = 0.5 < 0.7: OHEM keeps all of them
    target = torch.zeros(3, 10, 10, dtype=torch.long)
    target[1] = 255  # a crop with no labels does not count
    assert OhemCrossEntropy()(logits, target).item() == pytest.approx(math.log(2), rel=1e-6)


def test_ohem_all_ignored_is_zero_with_graph():
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    loss = OhemCrossEntropy()(logits, torch.full((1, 4, 4), 255))
    loss.backward()
    assert loss.item() == 0.0 and logits.grad is not None


def test_galdloss_weights_aux_by_04():
    logits = {k: torch.randn(1, 3, 5, 5) for k in ("out", "aux", "fcn_probe", "ga_probe")}
    target = torch.randint(0, 3, (1, 5, 5))
    parts = GALDLoss(ohem=False)(logits, target)
    assert parts["aux"].item() == pytest.approx(0.4 * F.cross_entropy(logits["aux"], target).item(), rel=1e-6)
    assert parts["total"].item() == pytest.approx(sum(v.item() for k, v in parts.items() if k != "total"), rel=1e-6)
