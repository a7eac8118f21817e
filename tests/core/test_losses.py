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


def official_ohem_crop(pred, target, thresh, min_kept, ignore=255):
    """The authors' OhemCrossEntropy2dTensor (libs/core/loss.py) for one crop (1, C, H, W), line by line."""
    b, c, h, w = pred.size()
    target = target.view(-1)
    valid_mask = target.ne(ignore)
    target = target * valid_mask.long()
    num_valid = valid_mask.sum()
    prob = F.softmax(pred, dim=1).transpose(0, 1).reshape(c, -1)
    if min_kept <= num_valid and num_valid > 0:
        prob = prob.masked_fill_(~valid_mask, 1)
        mask_prob = prob[target, torch.arange(len(target), dtype=torch.long)]
        threshold = thresh
        _, index = mask_prob.sort()
        threshold_index = index[min(len(index), min_kept) - 1]
        if mask_prob[threshold_index] > thresh:
            threshold = mask_prob[threshold_index]
        kept_mask = mask_prob.le(threshold)
        target = target * kept_mask.long()
        valid_mask = valid_mask * kept_mask
    target = target.masked_fill_(~valid_mask, ignore).view(b, h, w)
    return F.cross_entropy(pred, target, ignore_index=ignore)


@pytest.mark.parametrize(("seed", "min_kept"), [(0, 50), (1, 300), (2, 5000)])
def test_absolute_min_kept_matches_the_authors_code(seed, min_kept):
    """min_kept=100000 on a 769x769 crop is the official rule; here scaled to 40x40 crops (1600 pixels, a few
    ignored), with 5000 > valid pixels: every valid pixel is kept, as officially."""
    torch.manual_seed(seed)
    logits = torch.randn(2, 5, 40, 40) * 2
    target = torch.randint(0, 5, (2, 40, 40))
    target[:, :3] = 255
    ours = OhemCrossEntropy(thresh=0.7, min_kept=min_kept)(logits, target)
    ref = torch.stack([official_ohem_crop(logits[i:i + 1].clone(), target[i:i + 1].clone(), 0.7, min_kept)
                       for i in range(2)]).mean()
    assert ours.item() == pytest.approx(ref.item(), rel=1e-5)
    with pytest.raises(ValueError, match="min_kept"):
        OhemCrossEntropy(min_kept=0)


def test_cityscapes_configs_keep_the_official_100000_pixels():
    from pathlib import Path

    from gald.io.config_file import load_config
    from gald.training.losses import OFFICIAL_MIN_KEPT

    for path in sorted((Path(__file__).resolve().parents[2] / "configs" / "cityscapes").glob("*.yaml")):
        assert load_config(path)["loss"]["min_kept"] == OFFICIAL_MIN_KEPT, path.name
