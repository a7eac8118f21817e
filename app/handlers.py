"""The event callbacks of the app (thin: decode -> app.views -> picture files), also used by the benchmarks.

Every callback returns its outputs by name ({output name: value}); `app.ui` maps the names to components,
and the public order of `/analyze`'s outputs is `ANALYZE_OUTPUTS`. The browser runs an analysis in steps
(`OUTPUT_GROUPS`): the stage pictures first, then the rest of the Stages tab, then the Masks / Dashboard
pictures of the open tab (the others when their tab is opened); API callers get everything from `analyze`.

Every callback is wrapped so that any failure reaches the user (or the gradio_client caller) as a message
box with the reason, never as a stack trace, and the server keeps serving.
"""

from __future__ import annotations

import functools
import gc
import logging
import math
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import gradio as gr

from gald.heads import TITLES

from . import budget, figures, image_io, views
from .attribution import TimeBudgetExceeded
from .dashboard import dashboard_values, table
from .inference import Predictor
from .memory import trim_heap
from .picture_store import PictureStore

log = logging.getLogger(__name__)
DEFAULT_ALPHA = 0.6
# heap trimmed after these even when they fail (see _guarded)
TRIM_ONLY = ("analyze", "analyze_stages", "analyze_example", "stage_details")


def _error(message: str, title: str = "Cannot use this upload") -> gr.Error:
    safe = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # the modal renders HTML
    return gr.Error(safe, title=title, duration=None, print_exception=False)


def _guarded(fn: Callable, heavy: bool = False) -> Callable:
    """Every failure reaches the user as a message box (gr.Error), never as a stack trace. `heavy`: the
    callback allocates hundreds of MB (backward pass, matplotlib), so reference cycles are collected and the
    heap trimmed afterwards, whatever the outcome (app/memory.py). A full collection costs ~1 s on a busy
    2-core CPU, so /analyze (no cycles worth it: its buffers are freed by reference counting) only trims."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except image_io.InputError as exc:
            raise _error(str(exc)) from None
        except TimeBudgetExceeded as exc:
            raise _error(f"{exc}: gradient requests may run {budget.GRADIENT_TIME_BUDGET_S:g} s. Use fewer IG "
                         "steps, GradCAM, or a smaller input scale.", title="Time budget exceeded") from None
        except Exception as exc:  # keep serving
            log.exception("%s failed", fn.__name__)
            raise _error(f"{fn.__name__} failed ({type(exc).__name__}): {exc}", title="Something went wrong") from None
        finally:
            if heavy:
                gc.collect()
            if heavy or fn.__name__ in TRIM_ONLY:
                trim_heap()

    return wrapper


def _number(value: Any, name: str, default: float, low: float, high: float, *, integer: bool = False) -> float:
    """An optional numeric API argument: None means the default; anything else must be a finite number in
    range (an integer with `integer`). The message names the argument and says what was wrong."""
    if value is None:
        return default
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise _error(f"{name} must be {kind} between {low:g} and {high:g}, got {shown}", title="Bad request")
    if isinstance(value, float) and not math.isfinite(value):
        raise _error(f"{name} must be a finite number between {low:g} and {high:g}, got {value}", title="Bad request")
    if not low <= value <= high:
        shown = (str(value) if len(str(value)) <= 20 else f"a {len(str(abs(int(value))))}-digit integer"
                 ) if isinstance(value, int) else f"{value:g}"
        raise _error(f"{name} must be between {low:g} and {high:g}, got {shown}", title="Bad request")
    if integer and not float(value).is_integer():
        raise _error(f"{name} must be a whole number, got {value:g}", title="Bad request")
    return value


class SessionRegistry:
    """Session hashes that have analysed an image, newest last (bounded): when gradio drops a session's state
    (it keeps budget.SESSIONS_KEPT), the next request from it is told that it expired, not to analyse first."""

    def __init__(self, capacity: int = 64 * budget.SESSIONS_KEPT) -> None:
        self.capacity, self._seen, self._lock = capacity, OrderedDict(), threading.Lock()

    def add(self, request: gr.Request | None) -> None:
        sid = getattr(request, "session_hash", None)
        if sid:
            with self._lock:
                self._seen[sid] = None
                self._seen.move_to_end(sid)
                while len(self._seen) > self.capacity:
                    self._seen.popitem(last=False)

    def __contains__(self, request: gr.Request | None) -> bool:
        sid = getattr(request, "session_hash", None)
        with self._lock:
            return bool(sid) and sid in self._seen


def expired_message() -> str:
    return (f"Your session has expired: the server keeps the analysed image of the {budget.SESSIONS_KEPT} most "
            "recent sessions, and others have been used since. Analyze the image again (Analyze, or pick the "
            "example again) to continue; nothing else is lost.")


STAGE_PICTURES = ("input", "fcn", "ga", "gald", "gt")  # the stage row (Fig. 5)
# the public order of `/analyze`'s outputs (gradio_client returns them in this order; the state is hidden)
ANALYZE_OUTPUTS = ("state", "summary", "legend", *STAGE_PICTURES, "disagreement", "disagreement_text",
                   "disagreement_legend", "ld_on", "ld_off", "ld_change", "ld_text", "mask_mean", "mask_text",
                   "channel_image", "channel_text", "gallery", "scatter", "image_iou", "confusion", "prediction_png",
                   "stages_npz")
# `/segment`: the prediction only, for API callers who want the class map fast (each file an API answer names
# is one more download for gradio_client: ~60 ms each on a 2-core machine, 24 of them in /analyze's answer)
SEGMENT_OUTPUTS = ("summary", "prediction_png")
OUTPUT_GROUPS = {  # the browser's analysis, step by step: each step fills one group
    "stages": ("state", "summary", "legend", *STAGE_PICTURES),
    "stage_details": ("disagreement", "disagreement_text", "disagreement_legend", "ld_on", "ld_off", "ld_change",
                      "ld_text", "prediction_png", "stages_npz"),
    "masks": ("mask_mean", "mask_text", "channel_image", "channel_text", "gallery", "scatter"),
    "scores": ("image_iou", "confusion"),
}
LAZY_TABS = {"masks": "masks", "dashboard": "scores"}  # tab id -> its group, computed once the tab is open
OVERLAY_OUTPUTS = ("fcn", "ga", "gald", "gt", "ld_on", "ld_off")
# photographic pictures (overlays blended into the photo, heatmaps over it) travel as JPEG; colour codes the
# user reads exactly (disagreement, LD change map, mask tiles) and the input as the app decoded it (a check
# that an upload was read right, pixel for pixel) as PNG
PHOTOS = frozenset({"fcn", "ga", "gald", "gt", "ld_on", "ld_off", "mask_mean", "channel_image", "attribution",
                    "pixel_attention", "pixel_attribution", "pixel_attribution_gt"})


def make_handlers(pred: Predictor, store: PictureStore | None = None) -> SimpleNamespace:
    """The event callbacks, each returning {output name: value}."""
    names = pred.class_names
    store = store or PictureStore()
    n_channels = pred.model.config.mid_channels if pred.has_ld else 1
    sessions = SessionRegistry()

    def files(pictures: dict[str, Any]) -> dict[str, str | None]:
        return store.many(pictures, {n: "jpeg" if n in PHOTOS else "png" for n in pictures})

    def picture(name: str, pic: Any) -> str | None:
        return store.save(pic, "jpeg" if name in PHOTOS else "png")

    def session(state: dict | None, request: gr.Request | None = None):
        if not state:
            if request in sessions:
                raise _error(expired_message(), title="Session expired")
            raise _error("Analyze an image first (upload one or pick an example).", title="No image yet")
        analysis = pred.cached(state["key"]) or pred.analyze(state["rgb"], state.get("scale"))  # re-run if evicted
        return analysis, state.get("label")

    def load(image_path, label_path, alpha, channel, scale, request):
        """Validate the arguments, decode the uploads, run (or reuse) the network pass."""
        if not image_path:
            raise _error("Upload an image or pick an example first.", title="No image")
        alpha = _number(alpha, "opacity (alpha)", DEFAULT_ALPHA, 0.0, 1.0)
        channel = int(_number(channel, "mask channel", 0, 0, max(n_channels - 1, 0), integer=True))
        scale = float(_number(scale, "input scale", pred.scale, *pred.scale_range))
        loaded = image_io.load_image(image_path)
        notices = list(loaded.notices)
        h, w = loaded.rgb.shape[:2]
        capped = pred.capped_scale(h, w, scale)
        if capped < scale:
            notices.append(f"the network input is capped at {budget.MAX_ANALYSIS_NET_PIXELS / 1e6:.1f} megapixels; "
                           f"this image ({w}x{h}) at input scale {scale:g} would be {h * w * scale**2 / 1e6:.1f}, "
                           f"so it was analysed at input scale {capped:g}")
            scale = capped
        label = None
        if label_path:
            label = image_io.load_label(label_path, num_classes=pred.num_classes, palette=pred.palette,
                                        image_size=loaded.size, original_size=loaded.original_size,
                                        void_id=pred.void_id, notices=notices)
        analysis = pred.analyze(loaded.rgb, scale)
        state = {"id": uuid.uuid4().hex, "key": analysis.key, "rgb": loaded.rgb, "label": label, "scale": scale}
        sessions.add(request)
        for n in notices:
            gr.Warning(n)
        return state, analysis, label, notices, alpha, channel

    # --------------------------------------------------------------- the groups of an analysis's outputs
    def stages_group(state, analysis, label, notices, alpha) -> dict[str, Any]:
        pics = views.stage_images(pred, analysis, label, alpha, STAGE_PICTURES)
        return {"state": state, "summary": views.summary(pred, analysis, notices, label is not None),
                "legend": views.legend(pred, analysis, label), **files(pics)}

    def stage_details_group(analysis, label, alpha) -> dict[str, Any]:
        dis, dis_text = views.disagreement_view(analysis, label)
        change, ld_text = views.ld_view(pred, analysis)
        pics = views.stage_images(pred, analysis, label, alpha, ("ld_on", "ld_off"))
        png, npz = pred.export(analysis)
        return {**files({"disagreement": dis, **pics, "ld_change": change}), "disagreement_text": dis_text,
                "disagreement_legend": figures.disagreement_legend_html(label is not None), "ld_text": ld_text,
                "prediction_png": png, "stages_npz": npz}

    def masks_group(analysis, channel) -> dict[str, Any]:
        m = views.mask_views(pred, analysis)
        ch, ch_text = views.channel_view(analysis, channel)
        tiles = {f"tile {i}": tile for i, (tile, _) in enumerate(m["gallery"])}  # files: faster than gradio's
        out = files({"mask_mean": m["mean"], "channel_image": ch, **tiles})
        gallery = [(out.pop(f"tile {i}"), caption) for i, (_, caption) in enumerate(m["gallery"])]
        return {**out, "mask_text": m["text"], "channel_text": ch_text, "gallery": gallery, "scatter": m["scatter"]}

    def scores_group(analysis, label) -> dict[str, Any]:
        met = views.image_metrics(pred, analysis, label)
        return {"image_iou": table(met["headers"], met["rows"]), "confusion": met["confusion"]}

    # --------------------------------------------------------------- events
    def analyze(image_path, label_path=None, alpha=DEFAULT_ALPHA, channel=0, scale=None,
                request: gr.Request | None = None):
        """Everything at once (the `/analyze` API): every output of ANALYZE_OUTPUTS."""
        state, analysis, label, notices, alpha, channel = load(image_path, label_path, alpha, channel, scale, request)
        trim_heap()  # the forward pass's buffers are freed: trim before encoding (again after, _guarded)
        return {**stages_group(state, analysis, label, notices, alpha),
                **stage_details_group(analysis, label, alpha), **masks_group(analysis, channel),
                **scores_group(analysis, label)}

    def segment(image_path, scale=None, request: gr.Request | None = None):
        """The `/segment` API: the GALD prediction (palette PNG, index = class id) and the summary."""
        state, analysis, label, notices, _, _ = load(image_path, None, DEFAULT_ALPHA, 0, scale, request)
        return {"summary": views.summary(pred, analysis, notices, False),
                "prediction_png": pred.prediction_png(analysis)}

    def analyze_stages(image_path, label_path=None, alpha=DEFAULT_ALPHA, channel=0, scale=None,
                       request: gr.Request | None = None):
        """The browser's first step: the stage row only (the rest follows in `stage_details` / `open_tab`)."""
        state, analysis, label, notices, alpha, _ = load(image_path, label_path, alpha, channel, scale, request)
        return stages_group(state, analysis, label, notices, alpha) | {"stage_status": ""}

    def analyze_example(image_path, label_path, request: gr.Request | None = None):
        """An example runs with the default settings, and the sliders show them."""
        return analyze_stages(image_path, label_path, DEFAULT_ALPHA, 0, pred.scale, request) | {
            "alpha": DEFAULT_ALPHA, "channel_slider": 0, "scale": pred.scale}

    def stage_details(state, alpha=DEFAULT_ALPHA, request: gr.Request | None = None):
        alpha = _number(alpha, "opacity (alpha)", DEFAULT_ALPHA, 0.0, 1.0)
        analysis, label = session(state, request)
        return stage_details_group(analysis, label, alpha)  # the heap is trimmed after it (_guarded)

    def open_tab(tab, state, channel=0, filled=None, request: gr.Request | None = None):
        """The open tab's pictures, computed when it is opened (or open when an analysis ends) unless it
        already shows this analysis; `filled`: tab -> the analysis id it shows."""
        out: dict[str, Any] = {"open_tab": tab}
        group = LAZY_TABS.get(tab)
        filled = dict(filled or {})
        if group is None or not state or filled.get(tab) == state.get("id"):
            return out
        analysis, label = session(state, request)
        channel = int(_number(channel, "mask channel", 0, 0, max(n_channels - 1, 0), integer=True))
        out |= masks_group(analysis, channel) if group == "masks" else scores_group(analysis, label)
        filled[tab] = state.get("id")
        return out | {"filled": filled}

    def overlay(state, alpha=DEFAULT_ALPHA, request: gr.Request | None = None):
        alpha = _number(alpha, "opacity (alpha)", DEFAULT_ALPHA, 0.0, 1.0)
        analysis, label = session(state, request)
        return files(views.stage_images(pred, analysis, label, alpha, OVERLAY_OUTPUTS))

    def channel(state, c=0, request: gr.Request | None = None):
        c = int(_number(c, "mask channel", 0, 0, max(n_channels - 1, 0), integer=True))
        analysis, _ = session(state, request)
        pic, text = views.channel_view(analysis, c)
        return {"channel_image": picture("channel_image", pic), "channel_text": text}

    def pick_channel(state, evt: gr.SelectData, request: gr.Request | None = None):
        """Gallery click -> that channel in the browser (same view as the `channel` endpoint)."""
        analysis, _ = session(state, request)
        c = int(views.gallery_channels(analysis)[evt.index])
        pic, text = views.channel_view(analysis, c)
        return {"channel_slider": c, "channel_image": picture("channel_image", pic), "channel_text": text}

    def attribute(state, head, class_name, method, steps=8, request: gr.Request | None = None):
        steps = int(_number(steps, "IG steps", 8, 2, budget.MAX_IG_STEPS, integer=True))
        analysis, _ = session(state, request)
        if head not in analysis.heads:
            raise _error(f"unknown head {head!r}; valid: {analysis.heads}", title="Bad request")
        if class_name not in names:
            raise _error(f"unknown class {class_name!r}; valid: {names}", title="Bad request")
        if method not in ("gradcam", "ig"):
            raise _error(f"unknown method {method!r}; valid: ['gradcam', 'ig']", title="Bad request")
        c = names.index(class_name)
        heat = pred.attribute(analysis, head, c, method, steps)
        d = views.display(analysis, None)
        share = float((analysis.preds[head] == c).mean())
        target = (f"the mean {class_name} logit over the {100 * share:.2f}% of pixels the {TITLES[head]} "
                  f"head predicts as {class_name}" if share > 0 else
                  f"the mean {class_name} logit over the whole image (the head predicts no {class_name})")
        how = "GradCAM on backbone.layer4" if method == "gradcam" else f"Integrated Gradients ({steps} steps)"
        note = budget.attribution_note(*analysis.image.shape[:2], analysis.scale, method)
        pic = picture("attribution", figures.heatmap_overlay(d.image, heat, 0.6))
        return {"attribution": pic, "attribution_text": f"{how}, target: {target}." + (f" {note}" if note else "")}

    def _coords(analysis, x, y):
        h, w = analysis.image.shape[:2]
        if x is None or y is None:
            raise _error("Give both pixel coordinates (x = column, y = row), or click a stage image.",
                         title="Bad request")
        return _number(x, "x (column)", 0, 0, w - 1), _number(y, "y (row)", 0, 0, h - 1)

    def pixel(state, x, y, request: gr.Request | None = None):
        """Pixel query without attribution: cached pass only."""
        analysis, label = session(state, request)
        x, y = _coords(analysis, x, y)
        text, bars, attention, note = views.pixel_view(pred, analysis, label, x, y)
        return {"pixel_text": text, "pixel_bars": bars, "pixel_attention": picture("pixel_attention", attention),
                "pixel_attention_text": note}

    def pixel_attribution(state, x, y, head="gald", request: gr.Request | None = None):
        analysis, label = session(state, request)
        x, y = _coords(analysis, x, y)
        if head not in analysis.heads:
            raise _error(f"unknown head {head!r}; valid: {analysis.heads}", title="Bad request")
        pred_pic, gt_pic, text = views.pixel_attribution_view(pred, analysis, label, x, y, head)
        return {"pixel_attribution": picture("pixel_attribution", pred_pic),
                "pixel_attribution_gt": picture("pixel_attribution_gt", gt_pic), "pixel_attribution_text": text}

    def click_pixel(state, evt: gr.SelectData, request: gr.Request | None = None):
        """A click on a (display-size) stage image -> the pixel's coordinates in the analysed image."""
        analysis, _ = session(state, request)
        d = views.display(analysis, None)
        sx = analysis.image.shape[1] / d.image.shape[1]
        sy = analysis.image.shape[0] / d.image.shape[0]
        x, y = evt.index
        return {"pixel_x": int(min(x * sx, analysis.image.shape[1] - 1)),
                "pixel_y": int(min(y * sy, analysis.image.shape[0] - 1))}

    def paper_figure(state, which="fig5", fmt="pdf", request: gr.Request | None = None):
        analysis, label = session(state, request)
        try:
            path = str(views.paper_figure(pred, analysis, label, which, fmt, store.folder))
        except ValueError as exc:
            raise _error(str(exc), title="Bad request") from None
        return {f"{which}_file": path}

    def dashboard():
        values = dashboard_values(pred)
        has_eval, has_ablations = values.pop("has_eval"), values.pop("has_ablations")
        return values | {"eval_box": gr.update(visible=has_eval), "ablation_box": gr.update(visible=has_ablations)}

    heavy = (attribute, pixel_attribution, paper_figure)
    return SimpleNamespace(**{f.__name__: _guarded(f, heavy=f in heavy) for f in (
        analyze, segment, analyze_stages, analyze_example, stage_details, open_tab, overlay, channel, pick_channel,
        attribute, paper_figure, pixel, pixel_attribution, click_pixel, dashboard)})
