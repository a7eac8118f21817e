"""The per-request budget (app/budget.py) and what enforces it below the server: attribution at a bounded size
with frozen parameters, chunked IG equal to captum's, argument checks, session expiry, upload quota, disk
pruning and scratch folders. The server-level matrix is tests/reliability/test_rel_budget.py."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
import torch
from torch import nn

from app import attribution, budget, handlers, limits, scratch


class _TinyScorer(nn.Module):
    """(N, 3, H, W) -> (N, 3) scores, non-linear so IG's steps differ."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return torch.tanh(self.conv(x)).pow(2).mean((2, 3))


def test_chunked_integrated_gradients_equal_captum():
    from captum.attr import IntegratedGradients

    scorer, x = _TinyScorer(), torch.randn(1, 3, 12, 10)
    ours = attribution.integrated_gradients(scorer, x, 1, 7, steps_per_pass=1)
    theirs = IntegratedGradients(scorer).attribute(x, baselines=torch.zeros_like(x), target=1, n_steps=7)
    assert torch.allclose(ours, theirs, atol=1e-6), (ours - theirs).abs().max()
    assert torch.allclose(attribution.integrated_gradients(scorer, x, 1, 7, steps_per_pass=3), theirs, atol=1e-6)


def test_integrated_gradients_stop_at_the_deadline():
    scorer, x = _TinyScorer(), torch.randn(1, 3, 8, 8)
    with pytest.raises(attribution.TimeBudgetExceeded, match="after 0 of 5 steps"):
        attribution.integrated_gradients(scorer, x, 0, 5, deadline=time.monotonic() - 1)


def test_frozen_parameters_restore_flags():
    m = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    m[1].weight.requires_grad_(False)
    with attribution.frozen_parameters(m):
        assert not any(p.requires_grad for p in m.parameters())
    assert [p.requires_grad for p in m.parameters()] == [True, True, False, True]


def test_region_is_resized_to_the_logit_grid():
    region = torch.zeros(8, 8, dtype=torch.bool)
    region[2:4, 6:8] = True
    small = attribution.region_at(region, (4, 4))
    assert small.nonzero().tolist() == [[1, 3]]
    assert attribution.region_at(region, (8, 8)) is region


def test_attribution_is_reduced_to_the_cap_and_says_so():
    cap = budget.ATTRIBUTION_MAX_NET_PIXELS["ig"]
    assert budget.attribution_scale(360, 480, 1.5, "ig") == 1.5  # CamVid at the default scale: untouched
    assert budget.attribution_note(360, 480, 1.5, "ig") == ""
    s = budget.attribution_scale(1024, 1024, 2.0, "ig")
    assert s < 2.0 and abs(1024 * 1024 * s**2 - cap) / cap < 1e-6
    note = budget.attribution_note(1024, 1024, 2.0, "ig")
    assert f"<= {cap / 1e6:.1f} megapixels" in note and "4.2 MP" in note and f"{s:.2f}" in note
    # the derivation: every gradient peak fits the single-request target with the base and headroom
    for method, mb in budget.MB_PER_NET_MEGAPIXEL.items():
        if method != "forward":
            peak = budget.SERVER_BASE_MB + budget.HEADROOM_MB + mb * budget.ATTRIBUTION_MAX_NET_PIXELS[method] / 1e6
            assert peak <= budget.MEMORY_SINGLE_REQUEST_MB + 1


def test_predictor_attributes_at_the_reduced_size(predictor, rgb, monkeypatch):
    seen = []
    real = attribution.attribute

    def spy(model, x, *args, **kwargs):
        seen.append((tuple(x.shape[-2:]), kwargs.get("deadline") is not None))
        return real(model, x, *args, **kwargs)

    monkeypatch.setattr(attribution, "attribute", spy)
    monkeypatch.setitem(budget.ATTRIBUTION_MAX_NET_PIXELS, "gradcam", 2000)
    analysis = predictor.analyze(rgb, 1.0)
    heat = predictor.attribute(analysis, "gald", 1, "gradcam", region=(0, 0, 2, 2))
    (h, w), has_deadline = seen[0]
    assert h * w <= 2000 * 1.1 and h * w < rgb.shape[0] * rgb.shape[1] and has_deadline
    assert heat.ndim == 2 and np.isfinite(heat).all()
    assert all(p.requires_grad for p in predictor.model.parameters())  # flags restored


@pytest.mark.parametrize(("value", "message"), [
    (10**400, "got a 401-digit integer"), (float("nan"), "must be a finite number"),
    (float("inf"), "must be a finite number"), ("12", "must be an integer between 2 and 32, got '12'"),
    (2.5, "must be a whole number"), (-(10**30), "got a 31-digit integer"), ([1], "got [1]"),
])
def test_number_errors_name_the_argument(value, message):
    with pytest.raises(gr.Error) as info:
        handlers._number(value, "IG steps", 8, 2, 32, integer=True)
    assert "IG steps" in info.value.message and message in info.value.message


def test_session_expiry_is_told_apart_from_no_analysis(predictor, example_files):
    h = handlers.make_handlers(predictor)
    alice, bob = SimpleNamespace(session_hash="alice"), SimpleNamespace(session_hash="bob")
    h.analyze(str(example_files[0]), None, 0.6, 0, None, alice)
    with pytest.raises(gr.Error, match="session has expired.*Analyze the image again"):
        h.overlay(None, 0.5, alice)  # gradio dropped alice's state
    with pytest.raises(gr.Error, match="Analyze an image first"):
        h.overlay(None, 0.5, bob)


def test_upload_quota_sliding_window():
    q = limits.UploadQuota(limit=100, window=10)
    assert q.take("a", 60, now=0) == 0 and q.take("b", 100, now=0) == 0
    wait = q.take("a", 50, now=1)
    assert wait == pytest.approx(9)  # the first 60 leave the window at t=10
    assert q.take("a", 40, now=2) == 0 and q.take("a", 50, now=10.5) == 0


def test_prune_removes_oldest_first(tmp_path):
    for i in range(10):
        d = tmp_path / f"u{i}"
        d.mkdir()
        (d / "f.bin").write_bytes(bytes(100))
        os.utime(d / "f.bin", (1000 + i, 1000 + i))
    out = limits.prune([tmp_path], limit=500, target=0.8)
    left = sorted(p.parent.name for p in tmp_path.rglob("*.bin"))
    assert out["removed"] == 6 and left == ["u6", "u7", "u8", "u9"] and not (tmp_path / "u0").exists()
    assert limits.prune([tmp_path], limit=500)["removed"] == 0  # under budget: nothing to do


def test_pruner_walks_when_uploads_could_pass_the_budget_not_after_every_upload(tmp_path, monkeypatch):
    walks = []
    monkeypatch.setattr(limits, "cache_roots", lambda: [tmp_path])
    monkeypatch.setattr(limits, "prune", lambda roots, limit: walks.append(limit) or {"removed": 0, "bytes": 600})
    pruner = limits._Pruner(limit=1000)

    def settle():
        for t in threading.enumerate():
            if t.name == "gald-prune":
                t.join(5)

    pruner.maybe()  # the first request walks (nothing known yet)
    settle()
    assert walks == [1000] and pruner.estimate == 600
    pruner.maybe(uploaded=300)  # 900 <= 1000: no walk within the interval
    settle()
    assert walks == [1000] and pruner.estimate == 900
    pruner.maybe(uploaded=200)  # could be over the budget: walk now
    settle()
    assert walks == [1000, 1000] and pruner.estimate == 600


def test_scratch_folders_of_dead_processes_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(scratch.tempfile, "gettempdir", lambda: str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = scratch.root() / f"{int(dead.stdout)}-abc"
    alive = scratch.root() / f"{os.getppid()}-def"
    (stale / "png").mkdir(parents=True)
    alive.mkdir()
    legacy = tmp_path / "gald_png_old"
    legacy.mkdir()
    os.utime(legacy, (0, 0))
    removed = scratch.remove_stale()
    assert set(removed) == {stale, legacy} and alive.is_dir()


def test_integrated_gradients_let_a_waiting_analysis_use_the_model(predictor, rgb, monkeypatch):
    """A long IG request does not hold the model for its whole run: an analysis waiting for it runs between
    two steps, and IG carries on afterwards."""
    import threading

    done, real = [], predictor._let_waiting_analyses_run
    analysis = threading.Thread(target=lambda: (predictor.analyze(np.ascontiguousarray(rgb[::-1]), 0.5),
                                                done.append("analysis")))

    def first_pass_done() -> float:
        if not analysis.is_alive() and not done:
            analysis.start()
            give_up = time.monotonic() + 30  # an analysis blocked elsewhere never announces itself
            while predictor._waiting == 0 and time.monotonic() < give_up:  # the analysis waits for the model
                time.sleep(0.001)
        return real()

    monkeypatch.setattr(predictor, "_let_waiting_analyses_run", first_pass_done)
    a = predictor.analyze(rgb, 1.0)
    predictor.attribute(a, "gald", 2, "ig", n_steps=4)
    done.append("ig")
    analysis.join()
    assert done == ["analysis", "ig"]


@pytest.mark.parametrize(("fmt", "kwargs", "refused"), [
    ("PNG", {}, True), ("TIFF", {}, True), ("WEBP", {}, True), ("JPEG", {"progressive": True}, True),
    ("JPEG", {}, False),  # baseline JPEG: decoded at reduced size (draft), any size up to Pillow's limit
])
def test_decode_budget_is_checked_from_the_header(tmp_path, monkeypatch, fmt, kwargs, refused):
    from PIL import Image

    from app import image_io

    monkeypatch.setattr(budget, "MAX_DECODE_PIXELS", 20_000)
    path = tmp_path / f"x.{fmt.lower()}"
    Image.new("RGB", (200, 150), (90, 120, 30)).save(path, fmt, **kwargs)
    if refused:
        with pytest.raises(image_io.InputError, match=r"200x150 \(0\.0 megapixels\); .*over 0 megapixels are refused"):
            image_io.load_image(path)
    else:
        assert image_io.load_image(path).rgb.shape == (150, 200, 3)

