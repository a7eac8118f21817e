"""The event callbacks of the app (thin: decode -> app.views -> PNG files), also used by the benchmarks.

Every callback is wrapped so that any failure reaches the user (or the gradio_client caller) as a message
box with the reason, never as a stack trace, and the server keeps serving.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import gradio as gr

from . import figures, image_io, views
from .dashboard import dashboard_values, table
from .inference import HEAD_TITLES, Predictor
from .memory import trim_heap

log = logging.getLogger(__name__)
DEFAULT_ALPHA = 0.6


def _error(message: str, title: str = "Cannot use this upload") -> gr.Error:
    safe = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # the modal renders HTML
    return gr.Error(safe, title=title, duration=None, print_exception=False)


def _guarded(fn: Callable) -> Callable:
    """Every failure reaches the user as a message box (gr.Error), never as a stack trace."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except image_io.InputError as exc:
            raise _error(str(exc)) from None
        except Exception as exc:  # keep serving
            log.exception("%s failed", fn.__name__)
            raise _error(f"{fn.__name__} failed ({type(exc).__name__}): {exc}", title="Something went wrong") from None

    return wrapper


def _number(value: Any, name: str, default: float, low: float, high: float) -> float:
    """An optional numeric API argument: None means the default; anything else must be a number in range."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _error(f"{name} must be a number between {low:g} and {high:g}, got {value!r}", title="Bad request")
    if not low <= value <= high:
        shown = int(value) if float(value).is_integer() else value
        raise _error(f"{name} must be between {low:g} and {high:g}, got {shown}", title="Bad request")
    return value


def make_handlers(pred: Predictor, png: views.PngStore | None = None) -> SimpleNamespace:
    """The event callbacks (thin: decode -> app.views -> PNG files), also used by the benchmark."""
    names = pred.class_names
    png = png or views.PngStore()  # fast lossless PNG files for every picture (label colours stay exact)

    def session(state: dict | None):
        if not state:
            raise _error("Analyze an image first (upload one or pick an example).", title="No image yet")
        analysis = pred.cached(state["key"]) or pred.analyze(state["rgb"], state.get("scale"))  # re-run if evicted
        return analysis, state.get("label")

    n_channels = pred.model.config.mid_channels if pred.has_ld else 1

    def analyze(image_path, label_path=None, alpha=DEFAULT_ALPHA, channel=0, scale=None):
        if not image_path:
            raise _error("Upload an image or pick an example first.", title="No image")
        alpha = _number(alpha, "opacity (alpha)", DEFAULT_ALPHA, 0.0, 1.0)
        channel = int(_number(channel, "mask channel", 0, 0, max(n_channels - 1, 0)))
        scale = float(_number(scale, "input scale", pred.scale, *pred.scale_range))
        loaded = image_io.load_image(image_path)
        notices = list(loaded.notices)
        label = None
        if label_path:
            label = image_io.load_label(label_path, num_classes=pred.num_classes, palette=pred.palette,
                                        image_size=loaded.size, original_size=loaded.original_size,
                                        void_id=pred.void_id, notices=notices)
        out = views.full_analysis(pred, loaded.rgb, label, alpha=alpha, channel=channel, notices=notices,
                                  scale=scale)
        s, m, met = out["stages"], out["masks"], out["metrics"]
        (dis, dis_text), (ld_change, ld_text), (ch, ch_text) = out["disagreement"], out["ld"], out["channel"]
        tiles = [tile for tile, _ in m["gallery"]]  # as files: gradio would encode them one by one, slower
        files = png.many([s["input"], s["fcn"], s["ga"], s["gald"], s["gt"], dis, s["ld_on"], s["ld_off"],
                          ld_change, m["mean"], ch, *tiles])
        gallery = [(f, caption) for f, (_, caption) in zip(files[11:], m["gallery"], strict=True)]
        trim_heap()  # the forward pass's buffers are freed now; without this RSS drifts up in ~30 MB steps
        for n in notices:
            gr.Warning(n)
        state = {"key": out["analysis"].key, "rgb": loaded.rgb, "label": label, "scale": scale}
        iou = table(met["headers"], met["rows"])
        return (state, out["summary"], out["legend"], *files[:6], dis_text,
                figures.disagreement_legend_html(label is not None), *files[6:9], ld_text, files[9], m["text"],
                files[10], ch_text, gallery, m["scatter"], iou, met["confusion"], *out["files"])

    def analyze_example(image_path, label_path):
        """An example runs with the default settings, and the sliders show them."""
        return analyze(image_path, label_path, DEFAULT_ALPHA, 0, pred.scale) + (DEFAULT_ALPHA, 0, pred.scale)

    def overlay(state, alpha=DEFAULT_ALPHA):
        alpha = _number(alpha, "opacity (alpha)", DEFAULT_ALPHA, 0.0, 1.0)
        analysis, label = session(state)
        s = views.stage_images(pred, analysis, label, alpha)
        return tuple(png.many([s[k] for k in ("fcn", "ga", "gald", "gt", "ld_on", "ld_off")]))

    def channel(state, c=0):
        c = int(_number(c, "mask channel", 0, 0, max(n_channels - 1, 0)))
        analysis, _ = session(state)
        pic, text = views.channel_view(analysis, c)
        return png(pic), text

    def pick_channel(state, evt: gr.SelectData):
        """Gallery click -> that channel in the browser (same view as the `channel` endpoint)."""
        analysis, _ = session(state)
        c = int(views.gallery_channels(analysis)[evt.index])
        pic, text = views.channel_view(analysis, c)
        return c, png(pic), text

    def attribute(state, head, class_name, method, steps):
        analysis, _ = session(state)
        if head not in analysis.heads:
            raise _error(f"unknown head {head!r}; valid: {analysis.heads}", title="Bad request")
        if class_name not in names:
            raise _error(f"unknown class {class_name!r}; valid: {names}", title="Bad request")
        if method not in ("gradcam", "ig"):
            raise _error(f"unknown method {method!r}; valid: ['gradcam', 'ig']", title="Bad request")
        c = names.index(class_name)
        heat = pred.attribute(analysis, head, c, method, int(steps))
        d = views.display(analysis, None)
        share = float((analysis.preds[head] == c).mean())
        target = (f"the mean {class_name} logit over the {100 * share:.2f}% of pixels the {HEAD_TITLES[head]} "
                  f"head predicts as {class_name}" if share > 0 else
                  f"the mean {class_name} logit over the whole image (the head predicts no {class_name})")
        how = "GradCAM on backbone.layer4" if method == "gradcam" else f"Integrated Gradients ({int(steps)} steps)"
        return png(figures.heatmap_overlay(d.image, heat, 0.6)), f"{how}, target: {target}."

    def _coords(analysis, x, y):
        h, w = analysis.image.shape[:2]
        if x is None or y is None:
            raise _error("Give both pixel coordinates (x = column, y = row), or click a stage image.",
                         title="Bad request")
        return _number(x, "x", 0, 0, w - 1), _number(y, "y", 0, 0, h - 1)

    def pixel(state, x, y):
        """Pixel query without attribution: cached pass only."""
        analysis, label = session(state)
        x, y = _coords(analysis, x, y)
        text, bars, attention, note = views.pixel_view(pred, analysis, label, x, y)
        return text, bars, png(attention), note

    def pixel_attribution(state, x, y, head="gald"):
        analysis, label = session(state)
        x, y = _coords(analysis, x, y)
        if head not in analysis.heads:
            raise _error(f"unknown head {head!r}; valid: {analysis.heads}", title="Bad request")
        pred_pic, gt_pic, text = views.pixel_attribution_view(pred, analysis, label, x, y, head)
        return png(pred_pic), png(gt_pic), text

    def click_pixel(state, evt: gr.SelectData):
        """A click on a (display-size) stage image -> the pixel's coordinates in the analysed image."""
        analysis, _ = session(state)
        d = views.display(analysis, None)
        sx = analysis.image.shape[1] / d.image.shape[1]
        sy = analysis.image.shape[0] / d.image.shape[0]
        x, y = evt.index
        return int(min(x * sx, analysis.image.shape[1] - 1)), int(min(y * sy, analysis.image.shape[0] - 1))

    def paper_figure(state, which="fig5", fmt="pdf"):
        analysis, label = session(state)
        try:
            return str(views.paper_figure(pred, analysis, label, which, fmt, png.folder))
        except ValueError as exc:
            raise _error(str(exc), title="Bad request") from None

    def dashboard():
        *values, has_eval, has_abl = dashboard_values(pred)
        return (*values, gr.Column(visible=has_eval), gr.Row(visible=has_abl))

    return SimpleNamespace(**{f.__name__: _guarded(f) for f in (analyze, analyze_example, overlay, channel,
                                                                pick_channel, attribute, paper_figure,
                                                                pixel, pixel_attribution, click_pixel, dashboard)})
