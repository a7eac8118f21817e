"""Predictor: the network runs once per image; everything else reuses the cache."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app import views
from app.image_io import load_label
from app.inference import Predictor


@pytest.fixture()
def fresh(checkpoint):
    """A predictor with an empty cache and a forward counter on the model."""
    pred = Predictor.from_checkpoint(checkpoint, cache_size=2)
    calls = []
    pred.model.register_forward_hook(lambda *_: calls.append(1))
    return pred, calls


def test_network_runs_once_per_image(fresh, rgb, example_files):
    pred, calls = fresh
    label = load_label(example_files[1], num_classes=11, palette=pred.palette, image_size=rgb.shape[1::-1])
    out = views.full_analysis(pred, rgb, label, alpha=0.5, channel=3)
    assert len(calls) == 1  # LD on, and the LD-off head from the same pass (GALD arrangement)
    # sliders, channels, tabs and a second analysis of the same pixels: no forward pass
    views.full_analysis(pred, rgb.copy(), None, alpha=0.9)
    views.stage_images(pred, out["analysis"], label, 0.2)
    for c in (0, 17, 255):
        views.channel_view(out["analysis"], c)
    assert len(calls) == 1
    # a different image runs the network again; LRU eviction re-runs the first
    other = rgb[:, ::-1].copy()
    pred.analyze(other)
    pred.analyze(np.ascontiguousarray(rgb[::-1]))
    assert len(calls) == 3
    pred.analyze(rgb)
    assert len(calls) == 4


def test_analysis_contents(predictor, rgb):
    a = predictor.analyze(rgb)
    h, w = rgb.shape[:2]
    assert set(a.preds) == {"fcn", "ga", "gald", "gald_ld_off"}
    assert all(p.shape == (h, w) and p.dtype == np.uint8 and p.max() < 11 for p in a.preds.values())
    assert a.mask.shape[0] == 256 and 0.0 <= a.mask.min() and a.mask.max() <= 1.0
    assert {"F", "F_GA", "F_GALD", "M", "logits_gald", "logits_gald_ld_off"} <= set(a.stages)


def test_ld_off_is_head_on_f_ga(predictor, rgb):
    """LD off = Eq. 3 with F_GALD := F_GA: head(concat(F_GA, F))."""
    import torch
    import torch.nn.functional as F

    a = predictor.analyze(rgb)
    m, x = predictor.model, predictor.preprocess(rgb)
    with torch.no_grad():
        f = m.backbone(x)["layer4"]
        ref = m.head(torch.cat([m.context(m.reduce(f)), f], 1))
        ref = ref[0].numpy()  # the cache keeps logits at the heads' resolution
    assert a.stages["logits_gald_ld_off"].shape == ref.shape == (11, *a.stages["F"].shape[-2:])
    assert np.allclose(a.stages["logits_gald_ld_off"], ref, atol=1e-2)
    up = F.interpolate(torch.from_numpy(a.stages["logits_gald_ld_off"].astype(np.float32))[None],
                       size=rgb.shape[:2], mode="bilinear", align_corners=False)
    assert (up[0].argmax(0).numpy() == a.preds["gald_ld_off"]).mean() > 0.99  # the map is these logits
    assert not np.allclose(a.stages["logits_gald"], ref, atol=1e-3)


def test_scale_and_exports(checkpoint, rgb, tmp_path):
    pred = Predictor(*__import__("gald").load_checkpoint(checkpoint), checkpoint_path=str(checkpoint))
    pred.scale = 0.5
    a = pred.analyze(rgb)
    assert a.net_size == (48, 64) and a.preds["gald"].shape == rgb.shape[:2]
    png, npz = pred.export(a)
    img = Image.open(png)
    assert img.mode == "P" and (np.asarray(img) == a.preds["gald"]).all()
    assert tuple(img.getpalette()[3:6]) == tuple(pred.palette[1])
    arrays = np.load(npz)
    assert arrays["M"].shape[0] == 256 and list(arrays["class_names"])[0] == "Sky"


def test_input_scale_per_analysis(checkpoint, rgb, monkeypatch):
    """One predictor, several input scales: each its own network pass and cache entry, the default the
    checkpoint's; attribution reruns the network at the scale the analysis used; out of range is refused."""
    from app import attribution

    pred = Predictor(*__import__("gald").load_checkpoint(checkpoint), checkpoint_path=str(checkpoint))
    default, half, double = pred.analyze(rgb), pred.analyze(rgb, 0.5), pred.analyze(rgb, 2.0)
    h, w = rgb.shape[:2]
    assert default.scale == pred.scale and default.net_size == (round(h * pred.scale), round(w * pred.scale))
    assert (half.scale, half.net_size, double.net_size) == (0.5, (h // 2, w // 2), (2 * h, 2 * w))
    assert len({default.key, half.key, double.key}) == 3 and pred.cached(half.key) is half
    assert half.stages["F"].shape[-2:] != double.stages["F"].shape[-2:]
    assert all(p.shape == (h, w) for a in (half, double) for p in a.preds.values())
    seen = []
    real = attribution.attribute

    def spy(model, x, *args, **kwargs):
        seen.append(tuple(x.shape[-2:]))
        return real(model, x, *args, **kwargs)

    monkeypatch.setattr(attribution, "attribute", spy)
    pred.attribute(double, "gald", 3, "gradcam")
    assert seen == [double.net_size]
    with pytest.raises(ValueError, match="input scale must be between 0.5 and 2"):
        pred.analyze(rgb, 3.0)
    pred.scale = 0.25  # a checkpoint made for a smaller input: its own scale is always offered
    assert pred.scale_range == (0.25, 2.0) and pred.analyze(rgb).net_size == (round(h / 4), round(w / 4))


def test_attribution_cached(predictor, rgb, monkeypatch):
    from app import attribution

    a = predictor.analyze(rgb)
    heat = predictor.attribute(a, "gald", 9, "gradcam")
    assert heat.ndim == 2 and heat.dtype == np.float32 and 0 <= heat.min() and heat.max() <= 1
    monkeypatch.setattr(attribution, "attribute", lambda *a, **k: pytest.fail("not cached"))
    assert predictor.attribute(a, "gald", 9, "gradcam") is heat


@pytest.mark.parametrize("head", ["fcn", "ga", "gald"])
def test_attribution_methods(predictor, rgb, head):
    from app.attribution import attribute

    x = predictor.preprocess(rgb[:64, :64].copy())
    cam = attribute(predictor.model, x, head, 3, method="gradcam")
    ig = attribute(predictor.model, x, head, 3, method="ig", n_steps=2)
    assert cam.shape == (8, 8) and ig.shape == (64, 64)
    assert np.isfinite(cam).all() and np.isfinite(ig).all()
    assert all(p.grad is None for p in predictor.model.parameters())


def test_class_score_region():
    import torch

    from app.attribution import ClassScore

    class Toy(torch.nn.Module):
        def forward(self, x, upsample=False):
            return {"out": x}

    x = torch.zeros(1, 3, 2, 2)
    x[0, 0] = torch.tensor([[5.0, 0.0], [0.0, 0.0]])  # class 0 wins top-left only
    x[0, 1] = 1.0
    score = ClassScore(Toy(), "gald")(x)
    assert score.shape == (1, 3)
    assert score[0, 0] == 5.0 and score[0, 1] == 1.0 and score[0, 2] == 0.0  # 2: never predicted -> mean


@pytest.mark.parametrize("metrics, shown", [({"val": {"gald": {"miou": 0.4567}}}, "val mIoU 45.7"),
                                            ({"miou": 0.5}, "val mIoU 50.0"), ({}, None)])
def test_description_reads_trainer_metrics(predictor, metrics, shown):
    pred = Predictor(predictor.model, {**predictor.meta, "metrics": metrics})
    assert "GALD" in pred.description and "resnet18" in pred.description
    assert (shown in pred.description) if shown else ("mIoU" not in pred.description)
