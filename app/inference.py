"""Predictor: checkpoint -> per-image stage outputs as numpy, computed once per image and cached.

One analysis = one `gald.stage_outputs` pass of the network at the checkpoint's inference scale, with LD
on, plus the main head with LD off (Section 3.2, Eq. 1-2; from the same pass in the GALD arrangement).
Logits are upsampled back to the image size before the argmax, as in evaluation. Everything the UI shows
afterwards (overlays, mask channels, plots) is derived from the cached `Analysis`, so sliders and tab
switches never run the network again. No gradio import: usable from scripts, tests and benchmarks.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

import gald
from gald.evaluation.inference import Inference
from gald.heads import HEAD_KEYS, HEADS, LD_OFF_KEY, LD_OFF_STAGE
from gald.io.checkpoint import checkpoint_stem, sidecar_path

from . import DEFAULT_CHECKPOINT, budget, scratch

try:  # Hugging Face ZeroGPU: the decorated function gets a GPU for its duration
    import spaces  # type: ignore[import-not-found]

    gpu = spaces.GPU
except ImportError:  # everywhere else a no-op

    def gpu(fn=None, **_kwargs):
        return fn if fn is not None else (lambda f: f)


SCALE_RANGE = (0.5, budget.MAX_SCALE)  # input scales the app offers: beyond 2x a 2-core CPU takes seconds per image


@dataclass
class Analysis:
    """Everything derived from one forward pass of one image (numpy, CPU)."""

    key: str
    image: np.ndarray  # (H, W, 3) uint8, the analysed image
    preds: dict[str, np.ndarray]  # head -> (H, W) uint8; "gald_ld_off": main head with LD disabled
    mask: np.ndarray | None  # (C, h, w) float32, LD mask M at feature resolution (None: no LD)
    stages: dict[str, np.ndarray]  # raw stages at network resolution (float16) for the .npz export
    net_size: tuple[int, int]  # (h, w) of the network input
    seconds: float = 0.0
    scale: float = 1.0  # input scale the network ran at (network input = image size x scale)
    notices: list[str] = field(default_factory=list)
    memo: dict[str, Any] = field(default_factory=dict, repr=False)  # derived pictures, computed once

    @property
    def heads(self) -> list[str]:
        return [h for h in HEAD_KEYS if h in self.preds]

    @property
    def mask_mean(self) -> np.ndarray | None:
        return None if self.mask is None else self.mask.mean(0)

    @property
    def channel_means(self) -> np.ndarray | None:
        return None if self.mask is None else self.mask.mean((1, 2))


def image_key(rgb: np.ndarray) -> str:
    digest = hashlib.blake2b(rgb.tobytes(), digest_size=16)
    digest.update(str(rgb.shape).encode())
    return digest.hexdigest()


def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


@gpu
def run_network(model: gald.GALDNet, x: torch.Tensor, with_ld_off: bool) -> dict[str, torch.Tensor]:
    """The only place the network runs for an analysis (GPU-decorated on ZeroGPU). With `with_ld_off`,
    `logits_gald_ld_off` is the main head with LD disabled (from the same pass in the GALD arrangement).
    Logits stay at the heads' (feature) resolution: upsampled once, to the image, for the class maps; kept
    small in the cache and the .npz export (full-resolution float16 logits were 15 MB per 480x360 image)."""
    device = next(model.parameters()).device
    x = x.to(device)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    with torch.inference_mode(), amp:
        out = gald.stage_outputs(model, x, ld_enabled=True, ld_off_logits=with_ld_off, upsample_logits=False)
    return {k: v.float().cpu() for k, v in out.items()}


@gpu
def run_attribution(model: gald.GALDNet, x: torch.Tensor, head: str, class_index: int, method: str,
                    n_steps: int, region: torch.Tensor | None = None, deadline: float | None = None,
                    between_passes: Any = None) -> np.ndarray:
    """Captum on the model's device (GPU-decorated on ZeroGPU like `run_network`)."""
    from . import attribution

    device = next(model.parameters()).device
    return attribution.attribute(model, x.to(device), head, class_index, method=method, n_steps=n_steps,
                                 region=None if region is None else region.to(device), deadline=deadline,
                                 steps_per_pass=budget.IG_STEPS_PER_PASS, between_passes=between_passes)


class Predictor:
    """Load a checkpoint once; analyse images with an LRU cache keyed by the image content."""

    def __init__(self, model: gald.GALDNet, meta: dict[str, Any], *, checkpoint_path: str | None = None,
                 device: str | None = None, cache_size: int = 8) -> None:
        self.inference = Inference(model, meta, device)  # the path gald.evaluate measures
        self.device = self.inference.device
        if self.device.type == "cpu":
            torch.set_num_threads(cpu_count())
        self.model, self.meta = self.inference.model, meta
        self.checkpoint_path = checkpoint_path
        cfg = model.config
        self.num_classes = cfg.num_classes
        self.class_names: list[str] = self.inference.class_names
        self.palette = self.inference.palette
        self.scale = self.inference.scale
        self.void_id = self.inference.void_id
        self.has_ld = cfg.uses_ld  # LD on vs off, and the mask M (Fig. 4 also shows LDGA masks)
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Analysis] = OrderedDict()
        self._attr_cache: OrderedDict[tuple, Any] = OrderedDict()
        self.token = uuid.uuid4().hex[:12]  # export folders never mix predictors (or processes)
        self.lock = threading.RLock()  # hooks and LD switching mutate the model: one user at a time
        self._waiting = 0  # analyses waiting for the model (Integrated Gradients lets them in between steps)
        self._waiting_lock = threading.Lock()
        self._cache_lock = threading.Lock()  # the two LRU caches

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike = DEFAULT_CHECKPOINT, **kwargs) -> Predictor:
        model, meta = gald.load_checkpoint(path)
        return cls(model, meta, checkpoint_path=str(path), **kwargs)

    # ----------------------------------------------------------------- description
    @property
    def description(self) -> str:
        cfg = self.model.config
        text = (f"{cfg.arrangement.upper()} · {cfg.backbone} OS{cfg.output_stride} · GA={cfg.ga} · "
                f"LD={cfg.ld_downsample} · {self.num_classes} classes · input scale {self.scale:g} · "
                f"{self.device.type.upper()}")
        metrics = self.meta.get("metrics") or {}
        miou = metrics.get("miou")
        if miou is None:  # the trainer's layout: {"val": {"gald": {"miou": ..}, "ga": .., "fcn": ..}}
            miou = ((metrics.get("val") or {}).get("gald") or {}).get("miou")
        if isinstance(miou, (int, float)):
            text += f" · val mIoU {100 * miou:.1f}"
        return text

    def measurement_path(self, kind: str) -> Path | None:
        """Where the checkpoint's measurement `kind` (eval, ga_reach, ...) lives (`gald.io.sidecar_path`)."""
        return sidecar_path(self.checkpoint_path, kind) if self.checkpoint_path else None

    def ablations_dir(self) -> Path | None:
        """`ablations/` beside the checkpoint (Table 1 runs of this model's family)."""
        return checkpoint_stem(self.checkpoint_path).parent / "ablations" if self.checkpoint_path else None

    def eval_paths(self) -> tuple[Path | None, list[Path]]:
        """The checkpoint's evaluation JSON and the one-seed ablation JSONs (`ablations/*.json`)."""
        folder = self.ablations_dir()
        return self.measurement_path("eval"), sorted(folder.glob("*.json")) if folder else []

    # ----------------------------------------------------------------- analysis
    @property
    def scale_range(self) -> tuple[float, float]:
        """Input scales offered: SCALE_RANGE, widened to include the checkpoint's own inference scale."""
        return min(SCALE_RANGE[0], self.scale), max(SCALE_RANGE[1], self.scale)

    def preprocess(self, rgb: np.ndarray, scale: float | None = None) -> torch.Tensor:
        """The network input: `gald.evaluation.inference.Preprocessing`, the path gald.evaluate measures."""
        return self.inference.preprocessing(rgb, scale)

    @staticmethod
    def capped_scale(height: int, width: int, scale: float) -> float:
        """`scale`, lowered where the network input would exceed budget.MAX_ANALYSIS_NET_PIXELS."""
        pixels = height * width * scale**2
        cap = budget.MAX_ANALYSIS_NET_PIXELS
        return scale if pixels <= cap else round(scale * (cap / pixels) ** 0.5, 3)

    @contextlib.contextmanager
    def _model_turn(self):
        """self.lock, announced: a long gradient request sees the waiter and hands the model over between steps."""
        with self._waiting_lock:
            self._waiting += 1
        try:
            self.lock.acquire()
        finally:
            with self._waiting_lock:
                self._waiting -= 1
        try:
            yield
        finally:
            self.lock.release()

    def _let_waiting_analyses_run(self, grace: float = 2.0) -> float:
        """Between two Integrated Gradients steps (the lock held once, by `attribute`): if analyses wait, release
        the model until one has taken it (locks are not fair), then wait for it back. Seconds spent."""
        if not self._waiting:
            return 0.0
        t0 = time.monotonic()
        before = self._waiting
        self.lock.release()
        try:
            while self._waiting >= before and time.monotonic() - t0 < grace:
                time.sleep(0.005)
        finally:
            self.lock.acquire()
        return time.monotonic() - t0

    def cached(self, key: str) -> Analysis | None:
        with self._cache_lock:  # not the model lock: a cache hit never waits for a running network
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
            return hit

    def analyze(self, rgb: np.ndarray, scale: float | None = None) -> Analysis:
        """Stage outputs for one (H, W, 3) uint8 image at input `scale` (default: the checkpoint's inference
        scale); the network runs only on a cache miss."""
        scale = self.scale if scale is None else float(scale)
        low, high = self.scale_range
        if not (math.isfinite(scale) and low <= scale <= high):
            raise ValueError(f"input scale must be between {low:g} and {high:g}, got {scale}")
        scale = self.capped_scale(rgb.shape[0], rgb.shape[1], scale)
        key = f"{image_key(rgb)}-s{scale:g}"
        hit = self.cached(key)
        if hit is not None:
            return hit
        t0 = time.perf_counter()
        x = self.preprocess(rgb, scale)
        with self._model_turn():
            on = run_network(self.model, x, self.has_ld)
        logits = {h.key: on[h.stage] for h in HEADS if h.stage in on}
        if LD_OFF_STAGE in on:
            logits[LD_OFF_KEY] = on[LD_OFF_STAGE]
        maps = Inference.class_maps(logits, tuple(x.shape[-2:]), rgb.shape[:2])
        preds = {key: m.to(torch.uint8).numpy() for key, m in maps.items()}
        mask = on["M"][0].numpy().astype(np.float32) if "M" in on else None
        stages = {k: v[0].half().numpy() for k, v in on.items()}  # torch converts 6x faster than numpy
        analysis = Analysis(key=key, image=rgb, preds=preds, mask=mask, stages=stages,
                            net_size=tuple(x.shape[-2:]), seconds=time.perf_counter() - t0, scale=scale)
        with self._cache_lock:
            self._cache[key] = analysis
            while len(self._cache) > self.cache_size:
                _, old = self._cache.popitem(last=False)
                # gradio has copied any file it served into its own cache: drop ours with the analysis
                shutil.rmtree(self.export_dir(old), ignore_errors=True)
        return analysis

    # ----------------------------------------------------------------- exports
    def export_dir(self, analysis: Analysis) -> Path:
        return scratch.process_dir("exports") / f"{self.token}-{analysis.key}"

    def prediction_png(self, analysis: Analysis) -> str:
        """The GALD prediction as a palette PNG (index = class id), written once per analysis."""
        folder = self.export_dir(analysis)
        png = folder / "gald_prediction.png"
        if not png.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            img = Image.fromarray(analysis.preds["gald" if "gald" in analysis.preds else analysis.heads[-1]], "P")
            pal = np.zeros((256, 3), np.uint8)
            pal[: len(self.palette)] = self.palette
            img.putpalette(pal.ravel().tolist())
            img.save(png, compress_level=1)
        return str(png)

    def export(self, analysis: Analysis) -> tuple[str, str]:
        """The prediction PNG (`prediction_png`) and all stages as .npz."""
        png = self.prediction_png(analysis)
        folder = self.export_dir(analysis)
        npz = folder / "gald_stages.npz"
        if not npz.is_file():
            arrays = {f"pred_{k}": v for k, v in analysis.preds.items()} | analysis.stages
            arrays["class_names"] = np.asarray(self.class_names)
            arrays["palette"] = self.palette
            np.savez(npz, **arrays)
            (folder / "meta.json").write_text(json.dumps({"net_size": analysis.net_size}))
        return png, str(npz)

    # ----------------------------------------------------------------- attribution
    @staticmethod
    def attribution_scale(analysis: Analysis, method: str) -> float:
        """The input scale attribution runs at: the analysis's, lowered to keep the network input within
        budget.ATTRIBUTION_MAX_NET_PIXELS[method] (the backward pass costs several times the forward's)."""
        h, w = analysis.image.shape[:2]
        return budget.attribution_scale(h, w, analysis.scale, method)

    def attribute(self, analysis: Analysis, head: str, class_index: int, method: str = "gradcam",
                  n_steps: int = 8, region: tuple[int, int, int, int] | None = None,
                  time_budget: float | None = budget.GRADIENT_TIME_BUDGET_S) -> np.ndarray:
        """Cached captum heatmap (h, w) in [0, 1] for one (image, head, class, method[, region]). `region`
        (top, left, bottom, right) at the head's logit resolution: explain that region instead of every pixel
        the head predicts as the class (the pixel query). Runs at `attribution_scale`; IG is stopped between
        steps (attribution.TimeBudgetExceeded) once it has run `time_budget` seconds (waiting excluded)."""
        key = (analysis.key, head, int(class_index), method, int(n_steps) if method == "ig" else 0, region)
        with self._cache_lock:
            if key in self._attr_cache:
                self._attr_cache.move_to_end(key)
                return self._attr_cache[key]
        x = self.preprocess(analysis.image, self.attribution_scale(analysis, method))
        mask = None
        if region is not None:
            top, left, bottom, right = region
            h, w = analysis.stages["F"].shape[-2:]  # every head's logits are at F's resolution
            mask = torch.zeros(h, w, dtype=torch.bool)
            mask[top:bottom, left:right] = True
        with self.lock:  # held once here, so that IG can hand it to a waiting analysis between steps
            deadline = None if time_budget is None else time.monotonic() + time_budget
            heat = run_attribution(self.model, x, head, int(class_index), method, int(n_steps), mask, deadline,
                                   self._let_waiting_analyses_run)
        with self._cache_lock:
            self._attr_cache[key] = heat
            while len(self._attr_cache) > 4 * self.cache_size:
                self._attr_cache.popitem(last=False)
        return heat
