"""Layout: one builder per part of the page, each returning its components by name (no events here).

The names are the output names of `app.handlers` (`ANALYZE_OUTPUTS`, `OUTPUT_GROUPS`, ...) and of the
controls the events read; `app.ui` wires them. Boxes that have nothing to show before an action (pixel query
plots, attribution pictures, figure files) are hidden by the page's CSS while empty (`WHEN_FILLED`), so
handlers and API callers see plain values.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from gald.heads import TITLES

from . import budget, figures, views
from .dashboard import dashboard_values
from .inference import Predictor

Components = dict[str, Any]
UPLOAD_TYPES = [".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"]
# one short line per picture: what it is (the label badge of a stage picture has room for ~18 characters)
CAPTIONS = {"input": "Input", "fcn": "FCN head (F)", "ga": "GA head (F_GA)", "gald": "GALD head (main)",
            "gt": "Ground truth", "disagreement": "GA vs GALD: where they differ", "ld_on": "LD on (as trained)",
            "ld_off": "LD off: F_GALD := F_GA", "ld_change": "What LD off changes",
            "mask_mean": "M, mean over channels", "channel_image": "One channel of M (slider)",
            "pixel_attention": "NL attention from the pixel", "pixel_attribution": "GradCAM: predicted class",
            "pixel_attribution_gt": "GradCAM: true class",
            "attribution": "Attribution over the image (brighter = drives the class more)"}
PIXEL_HINT = ("**Click any pixel of a stage picture above** (or type x, y and press *Query pixel*): you get each "
              "head's class probabilities there, the LD mask at that point and what drives its prediction.")
WHEN_FILLED = ["gald-when-filled"]  # CSS classes: the box is hidden while it shows nothing (app.ui.CSS)
PLOT_WHEN_FILLED = ["gald-plot-when-filled"]
ANALYZING = "**Analyzing…** the stage pictures appear here first, the rest follows."


def optional_slider(*args: Any, **kwargs: Any) -> gr.Slider:
    """A slider whose API value may be omitted or None (the handler applies the default) and whose range the
    handler checks, so an API caller's error names the argument ("opacity (alpha) must be ..."). Patched on
    the instance: a gr.Slider subclass would make Gradio write a .pyi stub beside this file at import."""
    slider = gr.Slider(*args, **kwargs)
    slider.preprocess = lambda payload: payload
    return slider


def optional_number(*args: Any, **kwargs: Any) -> gr.Number:
    """A gr.Number whose API value reaches the handler as sent (as optional_slider): gradio's own rounding
    fails on NaN, Inf or text without saying which argument was wrong."""
    number = gr.Number(*args, **kwargs)
    number.preprocess = lambda payload: payload
    return number


def picture(name: str, height: int = 230, hide_empty: bool = False, **kwargs: Any) -> gr.Image:
    """A read-only picture box with its one-line caption; elem_id gald-<name>."""
    options = dict(format="png", interactive=False, height=height, buttons=["download", "fullscreen"],
                   elem_classes=["gald-img", *(WHEN_FILLED if hide_empty else [])],
                   elem_id=f"gald-{name.replace('_', '-')}") | kwargs
    return gr.Image(label=CAPTIONS[name], **options)


def heads_of(pred: Predictor) -> list[str]:
    """The heads this model has, main head first (the order of the head pickers)."""
    cfg = pred.model.config
    have = {"gald"} | ({"fcn"} | ({"ga"} if cfg.uses_ga else set()) if cfg.probes else set())
    return [h for h in ("gald", "ga", "fcn") if h in have]


def build_inputs(pred: Predictor) -> Components:
    """Upload boxes, input scale, Analyze, the examples' slot, the summary, legend and downloads."""
    c: Components = {}
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            c["image_file"] = gr.File(label="Image (PNG, JPEG, WebP, BMP, TIFF, GIF)", file_types=UPLOAD_TYPES,
                                      elem_id="gald-image-upload", height=120)
            # a short title: a long one wraps over the box's "Drop File Here" text
            c["label_file"] = gr.File(label="Ground truth (optional)", file_types=UPLOAD_TYPES,
                                      elem_id="gald-label-upload", height=120)
            gr.Markdown("Ground truth: a class-id PNG (0..K-1; 255 = void) or a PNG in the legend colours.",
                        elem_id="gald-label-hint")
            c["scale"] = optional_slider(*pred.scale_range, value=pred.scale, step=0.25, label="Input scale",
                                         elem_id="gald-scale",
                                         info=f"network input = image × scale, on Analyze; model default "
                                              f"{pred.scale:g}; zoom helps thin objects, costs scale²")
            c["run"] = gr.Button("Analyze", variant="primary", elem_id="gald-analyze")
        with gr.Column(scale=4):
            c["examples_slot"] = gr.Column()
        with gr.Column(scale=3):
            c["summary"] = gr.Markdown("Upload an image or pick an example, then **Analyze**.",
                                       elem_id="gald-summary")
            c["legend"] = gr.HTML(figures.legend_html(pred.class_names, pred.palette))
            with gr.Row():
                c["prediction_png"] = gr.DownloadButton("Prediction PNG", size="sm")
                c["stages_npz"] = gr.DownloadButton("Stage arrays (.npz)", size="sm")
    return c


def build_stages_tab(pred: Predictor, default_alpha: float) -> Components:
    """Fig. 5's stage row, the pixel query, Figure 5 as PDF, GA-vs-GALD disagreement, LD on vs off."""
    c: Components = {}
    heads = heads_of(pred)
    gr.Markdown("### Predictions at each stage (Fig. 5)\nFCN = backbone feature F, GA = after global "
                "aggregation, GALD = after local distribution (the model's main head).")
    gr.Markdown(views.ga_reach_note(pred), elem_id="gald-ga-reach")
    c["alpha"] = optional_slider(0, 1, value=default_alpha, step=0.05, label="Overlay opacity")
    c["stage_status"] = gr.Markdown("", elem_id="gald-stage-status")
    with gr.Row(elem_id="gald-stage-row"):
        for name in ("input", "fcn", "ga", "gald", "gt"):
            c[name] = picture(name, elem_id=f"gald-stage-{name}")
    gr.Markdown("### Ask a pixel why")
    with gr.Row():
        c["pixel_x"] = optional_number(label="x (column)", precision=0, elem_id="gald-pixel-x", min_width=100)
        c["pixel_y"] = optional_number(label="y (row)", precision=0, elem_id="gald-pixel-y", min_width=100)
        c["pixel_head"] = gr.Radio([(TITLES[h], h) for h in heads], value=heads[0],
                                   label="Explain the prediction of")
        c["pixel_run"] = gr.Button("Query pixel", elem_id="gald-pixel-run", scale=0, min_width=140)
    with gr.Row(equal_height=False):
        with gr.Column():
            c["pixel_text"] = gr.Markdown(PIXEL_HINT, elem_id="gald-pixel-text")
            c["pixel_bars"] = gr.Plot(label="Class probabilities at the pixel, per head", elem_id="gald-pixel-bars",
                                      elem_classes=PLOT_WHEN_FILLED)
        with gr.Column():
            c["pixel_attention"] = picture("pixel_attention", hide_empty=True)  # only the NL GA has the map
            c["pixel_attention_text"] = gr.Markdown()
        with gr.Column():
            with gr.Row():
                c["pixel_attribution"] = picture("pixel_attribution", elem_id="gald-pixel-attr", hide_empty=True)
                c["pixel_attribution_gt"] = picture("pixel_attribution_gt", hide_empty=True)
            c["pixel_attribution_text"] = gr.Markdown()
    with gr.Row():
        c["fig5_button"] = gr.Button("Figure 5 as PDF (paper layout, matplotlib)", size="sm", scale=0,
                                     min_width=280, elem_id="gald-fig5-button")
        c["fig5_file"] = gr.File(label="Figure 5 (PDF)", elem_id="gald-fig5-file", height=90, interactive=False,
                                 elem_classes=WHEN_FILLED)
    with gr.Row(equal_height=False):
        with gr.Column():
            gr.Markdown("### Where GA and GALD disagree")
            c["disagreement"] = picture("disagreement")
            c["disagreement_legend"] = gr.HTML(figures.disagreement_legend_html(True))
            c["disagreement_text"] = gr.Markdown()
        with gr.Column(scale=2):
            gr.Markdown("### Main head with LD on vs off (F_GALD := F_GA)")
            with gr.Row():
                for name in ("ld_on", "ld_off", "ld_change"):
                    c[name] = picture(name)
            c["ld_text"] = gr.Markdown()
    return c


def build_masks_tab(pred: Predictor) -> Components:
    """The LD mask M (Fig. 4): mean, one channel, top/bottom channels, mask vs segment size, Figure 4 as PDF."""
    c: Components = {}
    n_channels = pred.model.config.mid_channels if pred.has_ld else 1
    gr.Markdown("### The LD mask M (Eq. 1, Fig. 4)\nM ∈ [0, 1] re-weights each channel of F_GA at each position. "
                "GALD should keep global context inside large patterns (high M) and suppress it on small ones.")
    gr.HTML(figures.colorbar_html("M, per map:", "low", "high (range in the caption)"))
    with gr.Row(equal_height=False):
        with gr.Column():
            c["mask_mean"] = picture("mask_mean")
            c["mask_text"] = gr.Markdown()
        with gr.Column():
            c["channel_slider"] = optional_slider(0, max(n_channels - 1, 1), value=0, step=1, label="Mask channel",
                                                  elem_id="gald-channel-slider", interactive=pred.has_ld)
            c["channel_image"] = picture("channel_image", elem_id="gald-channel-image")
            c["channel_text"] = gr.Markdown(elem_id="gald-channel-text")
    c["gallery"] = gr.Gallery(label="Channels with the highest (↑, first row) and lowest (↓) mean M, absolute 0 – 1 "
                              "scale; click one to open it", elem_id="gald-gallery", columns=6, height="auto",
                              format="png", object_fit="contain", allow_preview=True)
    c["scatter"] = gr.Plot(label="Mean M per predicted segment vs segment area", elem_id="gald-scatter")
    with gr.Row():
        c["fig4_button"] = gr.Button("Figure 4 as PDF (paper layout, matplotlib)", size="sm", scale=0, min_width=280)
        c["fig4_file"] = gr.File(label="Figure 4 (PDF)", height=60, interactive=False, elem_classes=WHEN_FILLED)
    return c


def build_dashboard_tab(pred: Predictor) -> Components:
    """The checkpoint's evaluation files (filled now) and this image's scores (filled when the tab opens)."""
    c: Components = {}
    values = dashboard_values(pred)
    with gr.Row():
        gr.Markdown("### Checkpoint evaluation")
        c["reload"] = gr.Button("Reload evaluation files", size="sm", scale=0, min_width=200)
    c["dashboard_note"] = gr.Markdown(values["dashboard_note"], elem_id="gald-dashboard-note")
    with gr.Column(visible=values["has_eval"]) as c["eval_box"]:
        c["class_iou"] = gr.Plot(values["class_iou"], label="Per-class IoU by head")
        with gr.Row(equal_height=False):
            c["small_large"] = gr.Dataframe(values["small_large"], label="mIoU % of small vs large classes",
                                            interactive=False)
            c["boundary"] = gr.Plot(values["boundary"], label="Boundary-band IoU")
        c["errors"] = gr.Plot(values["errors"], label="Error decomposition", elem_id="gald-error-decomposition")
        c["learning"] = gr.Plot(values["learning"], label="Learning curve")
    with gr.Column(visible=values["has_ablations"]) as c["ablation_box"]:
        c["ablation_plot"] = gr.Plot(values["ablation_plot"], label="Ablations: paired Δ mIoU to FCN",
                                     elem_id="gald-ablation-plot")
        c["ablation_table"] = gr.Dataframe(values["ablation_table"], label="Ablations: mIoU % per row",
                                           interactive=False)
    gr.Markdown("### This image (needs ground truth)")
    with gr.Row(equal_height=False):
        c["image_iou"] = gr.Dataframe(label="IoU % per class and head on this image", interactive=False)
        c["confusion"] = gr.Plot(label="Confusion matrix", elem_id="gald-confusion")
    return c


def build_attribution_tab(pred: Predictor) -> Components:
    """Captum GradCAM / Integrated Gradients for a class of a head."""
    c: Components = {}
    names, heads = pred.class_names, heads_of(pred)
    default_class = next((n for n in ("Pedestrian", "Bicyclist", "Pole") if n in names), names[0])
    gr.Markdown("### Which pixels drive a class? (captum)\nTarget: the mean logit of the class over the pixels the "
                "chosen head predicts as that class.")
    with gr.Row():
        c["attribution_head"] = gr.Radio([(TITLES[h], h) for h in heads], value=heads[0], label="Head")
        c["attribution_class"] = gr.Dropdown(names, value=default_class, label="Class")
        c["attribution_method"] = gr.Radio([("GradCAM (fast)", "gradcam"), ("Integrated Gradients (slow)", "ig")],
                                           value="gradcam", label="Method")
        c["attribution_steps"] = optional_slider(2, budget.MAX_IG_STEPS, value=8, step=1, label="IG steps")
    c["explain"] = gr.Button("Explain", variant="primary")
    gr.HTML(figures.colorbar_html("attribution:", "none", "strongest (99.5th percentile)"))
    with gr.Row():
        c["attribution"] = picture("attribution", height=360, elem_id="gald-attribution", hide_empty=True)
        c["attribution_text"] = gr.Markdown()
    return c
