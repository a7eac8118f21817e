"""`build_demo(predictor) -> gr.Blocks`: layout and event wiring only (logic lives in app.views & co).

Tabs follow the paper: Stages (Fig. 5), Masks (Fig. 4), Dashboard (evaluation JSONs + this image),
Attribution (captum). Every event has an API name for gradio_client: analyze, overlay, channel,
attribute, dashboard. Per-session state holds the analysed image (key, pixels, label, input scale); the stage
outputs themselves live in the Predictor's LRU cache, so sliders never rerun the network.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gradio as gr

from . import budget, figures, limits, views
from .dashboard import dashboard_values
from .handlers import DEFAULT_ALPHA, make_handlers
from .inference import HEAD_TITLES, Predictor

log = logging.getLogger(__name__)
EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
UPLOAD_TYPES = [".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"]
MAX_FILE_SIZE = budget.MAX_UPLOAD_SIZE
QUEUE_SIZE = 16
EXAMPLE_NOTES = {"07959": "cars, pedestrians", "07987": "bicyclist", "08029": "poles, signs",
                 "08045": "parked cars", "08093": "pedestrians, signs", "08101": "pedestrians, bicyclists",
                 "08131": "bicyclist, fence"}
CSS = """
.gald-legend {display:flex; flex-wrap:wrap; gap:6px 14px; font-size:13px; padding:4px 2px;}
.gald-chip {display:inline-flex; align-items:center; gap:6px; white-space:nowrap;}
.gald-swatch {width:14px; height:14px; border-radius:3px; border:1px solid rgba(0,0,0,.25); display:inline-block;}
.gald-share {color:#6b7280; font-size:11px;}
.gald-colorbar {display:flex; align-items:center; gap:8px; font-size:12px; color:#4b5563;}
.gald-bar {width:180px; height:10px; border-radius:3px; display:inline-block;}
#gald-header h1 {margin-bottom:0;}
#gald-summary {min-height:64px;}
/* natural size up to the box: Gradio maps clicks to pixels assuming images are never upscaled */
.gald-img img {width:auto !important; height:auto !important; max-width:100%; max-height:100%; object-fit:contain;}
"""


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


def launch_options() -> dict[str, Any]:
    """Keyword arguments for `demo.launch` shared by app.py and the tests (Gradio 6: theme/css live here)."""
    return {"max_file_size": MAX_FILE_SIZE, "allowed_paths": [str(EXAMPLES_DIR)], "share": False,
            "theme": gr.themes.Soft(primary_hue="orange", neutral_hue="slate"), "css": CSS,
            "footer_links": ["api", "gradio"], "state_session_capacity": budget.SESSIONS_KEPT,
            **limits.launch_limits()}


def example_rows() -> tuple[list[list[str]], list[str]]:
    rows, labels = [], []
    for img in sorted(EXAMPLES_DIR.glob("*.png")):
        if img.stem.endswith("_label"):
            continue
        lab = img.with_name(img.stem + "_label.png")
        rows.append([str(img), str(lab) if lab.is_file() else None])
        frame = img.stem.rsplit("_", 1)[-1]
        labels.append(f"CamVid {frame} · {EXAMPLE_NOTES.get(frame, 'street scene')}")
    return rows, labels


def build_demo(pred: Predictor) -> gr.Blocks:
    names = pred.class_names
    heads = [h for h in ("gald", "ga", "fcn") if h in _available_heads(pred)]
    has_mask = pred.has_ld
    n_channels = pred.model.config.mid_channels if has_mask else 1
    default_class = next((n for n in ("Pedestrian", "Bicyclist", "Pole") if n in names), names[0])
    h = make_handlers(pred)

    # delete_cache: every hour, drop uploads / outputs older than two hours (long-running Spaces)
    with gr.Blocks(title="GALD Studio", delete_cache=(3600, 7200)) as demo:
        state = gr.State(None)
        gr.Markdown("# GALD Studio\nLook inside **GALDNet** — *Global Aggregation then Local Distribution in "
                    "Fully Convolutional Networks* (Li et al., BMVC 2019): what the FCN, GA and GALD heads "
                    f"see, and where the LD mask M puts global context.  \n`{pred.description}`",
                    elem_id="gald-header")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                image_file = gr.File(label="Image (PNG, JPEG, WebP, BMP, TIFF, GIF)", file_types=UPLOAD_TYPES,
                                     elem_id="gald-image-upload", height=120)
                # a short title: a long one wraps over the box's "Drop File Here" text
                label_file = gr.File(label="Ground truth (optional)",
                                     file_types=UPLOAD_TYPES, elem_id="gald-label-upload", height=120)
                gr.Markdown("Ground truth: a class-id PNG (0..K-1; 255 = void) or a PNG in the legend colours.",
                            elem_id="gald-label-hint")
                scale = optional_slider(*pred.scale_range, value=pred.scale, step=0.25,
                                        label="Input scale", elem_id="gald-scale",
                                        info=f"network input = image × scale, on Analyze; model default "
                                             f"{pred.scale:g}; zoom helps thin objects, costs scale²")
                run = gr.Button("Analyze", variant="primary", elem_id="gald-analyze")
            with gr.Column(scale=4):
                rows, labels = example_rows()
                examples_slot = gr.Column()
            with gr.Column(scale=3):
                summary = gr.Markdown("Upload an image or pick an example, then **Analyze**.",
                                      elem_id="gald-summary")
                legend = gr.HTML(figures.legend_html(names, pred.palette))
                with gr.Row():
                    dl_png = gr.DownloadButton("Prediction PNG", size="sm")
                    dl_npz = gr.DownloadButton("Stage arrays (.npz)", size="sm")
        with gr.Tabs():
            with gr.Tab("Stages", id="stages"):
                gr.Markdown("### Predictions at each stage (Fig. 5)\nFCN = backbone feature F, GA = after global "
                            "aggregation, GALD = after local distribution (the model's main head).")
                gr.Markdown(views.ga_reach_note(pred), elem_id="gald-ga-reach")
                alpha = optional_slider(0, 1, value=DEFAULT_ALPHA, step=0.05, label="Overlay opacity")
                with gr.Row():
                    img_kw = dict(format="png", interactive=False, height=230, buttons=["download", "fullscreen"],
                                  elem_classes=["gald-img"])
                    st_in = gr.Image(label="Input", elem_id="gald-stage-input", **img_kw)
                    st_fcn = gr.Image(label="FCN head", elem_id="gald-stage-fcn", **img_kw)
                    st_ga = gr.Image(label="GA head", elem_id="gald-stage-ga", **img_kw)
                    st_gald = gr.Image(label="GALD head", elem_id="gald-stage-gald", **img_kw)
                    st_gt = gr.Image(label="Ground truth", elem_id="gald-stage-gt", **img_kw)
                gr.Markdown("### Ask a pixel why\nClick any pixel of a stage image above (or type its coordinates): "
                            "each head's class probabilities there, the LD mask at that point, the Non-Local "
                            "attention from it (NL GA only), and what drives its prediction (GradCAM).")
                with gr.Row():
                    px_x = optional_number(label="x (column)", precision=0, elem_id="gald-pixel-x", min_width=100)
                    px_y = optional_number(label="y (row)", precision=0, elem_id="gald-pixel-y", min_width=100)
                    px_head = gr.Radio([(HEAD_TITLES[h], h) for h in heads], value=heads[0],
                                       label="Explain the prediction of")
                    px_run = gr.Button("Query pixel", elem_id="gald-pixel-run", scale=0, min_width=140)
                with gr.Row(equal_height=False):
                    with gr.Column():
                        px_text = gr.Markdown(elem_id="gald-pixel-text")
                        px_bars = gr.Plot(label="Class probabilities at the pixel", elem_id="gald-pixel-bars")
                    with gr.Column():
                        px_attn = gr.Image(label="Non-Local attention from the pixel", **img_kw,
                                           visible=pred.model.config.ga == "nl")  # only NL has the map
                        px_attn_text = gr.Markdown()
                    with gr.Column():
                        with gr.Row():
                            px_attr = gr.Image(label="Attribution: predicted class", elem_id="gald-pixel-attr",
                                               **img_kw)
                            px_attr_gt = gr.Image(label="Attribution: ground-truth class", **img_kw)
                        px_attr_text = gr.Markdown()
                with gr.Row():
                    fig5_pdf = gr.Button("Figure 5 as PDF (paper layout, matplotlib)", size="sm", scale=0,
                                         min_width=280, elem_id="gald-fig5-button")
                    fig5_file = gr.File(label="Figure 5", elem_id="gald-fig5-file", height=90, interactive=False,
                                        show_label=False)
                with gr.Row(equal_height=False):
                    with gr.Column():
                        gr.Markdown("### Where GA and GALD disagree")
                        dis_img = gr.Image(label="GA vs GALD", **img_kw)
                        dis_legend = gr.HTML(figures.disagreement_legend_html(True))
                        dis_text = gr.Markdown()
                    with gr.Column(scale=2):
                        gr.Markdown("### Main head with LD on vs off (F_GALD := F_GA)")
                        with gr.Row():
                            ld_on = gr.Image(label="LD on", **img_kw)
                            ld_off = gr.Image(label="LD off", **img_kw)
                            ld_change = gr.Image(label="LD off: changed", **img_kw)
                        ld_text = gr.Markdown()
            with gr.Tab("Masks", id="masks"):
                gr.Markdown("### The LD mask M (Eq. 1, Fig. 4)\nM ∈ [0, 1] re-weights each channel of F_GA at "
                            "each position. GALD should keep global context inside large patterns (high M) "
                            "and suppress it on small ones.")
                gr.HTML(figures.colorbar_html("M, per map:", "low", "high (range in the caption)"))
                with gr.Row(equal_height=False):
                    with gr.Column():
                        mask_mean = gr.Image(label="Mean of M over channels", elem_id="gald-mask-mean", **img_kw)
                        mask_text = gr.Markdown()
                    with gr.Column():
                        ch_slider = optional_slider(0, max(n_channels - 1, 1), value=0, step=1, label="Mask channel",
                                              elem_id="gald-channel-slider", interactive=has_mask)
                        ch_img = gr.Image(label="Channel of M", elem_id="gald-channel-image", **img_kw)
                        ch_text = gr.Markdown(elem_id="gald-channel-text")
                gallery = gr.Gallery(label="Channels with the highest (↑, first row) and lowest (↓) mean M, "
                                     "absolute 0 – 1 scale; click one to open it", elem_id="gald-gallery", columns=6,
                                     height="auto", format="png", object_fit="contain", allow_preview=True)
                scatter = gr.Plot(label="Mean M per predicted segment vs segment area", elem_id="gald-scatter")
                with gr.Row():
                    fig4_pdf = gr.Button("Figure 4 as PDF (paper layout, matplotlib)", size="sm", scale=0,
                                         min_width=280)
                    fig4_file = gr.File(label="Figure 4", height=60, interactive=False)
            with gr.Tab("Dashboard", id="dashboard"):
                (note, iou_fig, sl_tab, curves, errors_fig, learning, abl_tab, abl_fig, has_eval,
                 has_abl) = dashboard_values(pred)
                with gr.Row():
                    gr.Markdown("### Checkpoint evaluation")
                    reload = gr.Button("Reload evaluation files", size="sm", scale=0, min_width=200)
                dash_note = gr.Markdown(note, elem_id="gald-dashboard-note")
                with gr.Column(visible=has_eval) as eval_box:
                    dash_iou = gr.Plot(iou_fig, label="Per-class IoU by head")
                    with gr.Row(equal_height=False):
                        dash_sl = gr.Dataframe(sl_tab, label="mIoU % of small vs large classes", interactive=False)
                        dash_curves = gr.Plot(curves, label="Boundary-band IoU")
                    dash_errors = gr.Plot(errors_fig, label="Error decomposition", elem_id="gald-error-decomposition")
                    dash_learning = gr.Plot(learning, label="Learning curve")
                with gr.Row(equal_height=False, visible=has_abl) as abl_box:
                    dash_abl = gr.Dataframe(abl_tab, label="Ablations: mIoU % per head", interactive=False)
                    dash_abl_fig = gr.Plot(abl_fig, label="Ablation mIoU")
                gr.Markdown("### This image (needs ground truth)")
                with gr.Row(equal_height=False):
                    img_iou = gr.Dataframe(label="IoU % per class and head on this image", interactive=False)
                    confusion = gr.Plot(label="Confusion matrix", elem_id="gald-confusion")
            with gr.Tab("Attribution", id="attribution"):
                gr.Markdown("### Which pixels drive a class? (captum)\nTarget: the mean logit of the class over "
                            "the pixels the chosen head predicts as that class.")
                with gr.Row():
                    at_head = gr.Radio([(HEAD_TITLES[h], h) for h in heads], value=heads[0], label="Head")
                    at_class = gr.Dropdown(names, value=default_class, label="Class")
                    at_method = gr.Radio([("GradCAM (fast)", "gradcam"), ("Integrated Gradients (slow)", "ig")],
                                         value="gradcam", label="Method")
                    at_steps = optional_slider(2, budget.MAX_IG_STEPS, value=8, step=1, label="IG steps")
                at_run = gr.Button("Explain", variant="primary")
                gr.HTML(figures.colorbar_html("attribution:", "none", "strongest (99.5th percentile)"))
                with gr.Row():
                    at_img = gr.Image(label="Attribution", elem_id="gald-attribution", **img_kw | {"height": 360})
                    at_text = gr.Markdown()

        outputs = [state, summary, legend, st_in, st_fcn, st_ga, st_gald, st_gt, dis_img, dis_text, dis_legend,
                   ld_on, ld_off, ld_change, ld_text, mask_mean, mask_text, ch_img, ch_text, gallery, scatter,
                   img_iou, confusion, dl_png, dl_npz]
        watch = [summary, st_in, st_fcn, st_ga, st_gald, st_gt]  # spinners / error badges only here
        run.click(h.analyze, [image_file, label_file, alpha, ch_slider, scale], outputs, api_name="analyze",
                  concurrency_limit=1, show_progress_on=watch)
        with examples_slot:
            gr.Examples(rows, [image_file, label_file], outputs + [alpha, ch_slider, scale], fn=h.analyze_example,
                        run_on_click=True, cache_examples=False, example_labels=labels,
                        label="Examples: CamVid validation frames with ground truth", examples_per_page=8)
        alpha.input(h.overlay, [state, alpha], [st_fcn, st_ga, st_gald, st_gt, ld_on, ld_off], api_name="overlay",
                    show_progress="hidden", trigger_mode="always_last")
        ch_slider.input(h.channel, [state, ch_slider], [ch_img, ch_text], api_name="channel", show_progress="hidden",
                        trigger_mode="always_last")
        gallery.select(h.pick_channel, [state], [ch_slider, ch_img, ch_text], show_progress="hidden",
                       api_visibility="undocumented")  # the documented way to pick a channel is /channel
        at_run.click(h.attribute, [state, at_head, at_class, at_method, at_steps], [at_img, at_text],
                     api_name="attribute", concurrency_limit=1, concurrency_id=budget.GRADIENT_SLOT)
        px_fast = [px_text, px_bars, px_attn, px_attn_text]
        px_slow = [px_attr, px_attr_gt, px_attr_text]
        px_run.click(h.pixel, [state, px_x, px_y], px_fast, api_name="pixel", show_progress="hidden").then(
            h.pixel_attribution, [state, px_x, px_y, px_head], px_slow, api_name="pixel_attribution",
            concurrency_limit=1, concurrency_id=budget.GRADIENT_SLOT)
        for stage_image in (st_in, st_fcn, st_ga, st_gald, st_gt):
            stage_image.select(h.click_pixel, [state], [px_x, px_y], api_visibility="undocumented",
                               show_progress="hidden").then(
                h.pixel, [state, px_x, px_y], px_fast, api_visibility="undocumented", show_progress="hidden").then(
                h.pixel_attribution, [state, px_x, px_y, px_head], px_slow, api_visibility="undocumented",
                concurrency_limit=1, concurrency_id=budget.GRADIENT_SLOT)
        fig5_pdf.click(h.paper_figure, [state, gr.State("fig5"), gr.State("pdf")], [fig5_file], api_name="figure",
                       concurrency_limit=1)
        fig4_pdf.click(h.paper_figure, [state, gr.State("fig4"), gr.State("pdf")], [fig4_file],
                       api_visibility="undocumented", concurrency_limit=1)
        reload.click(h.dashboard, None, [dash_note, dash_iou, dash_sl, dash_curves, dash_errors, dash_learning,
                                         dash_abl, dash_abl_fig, eval_box, abl_box], api_name="dashboard")
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=2)
    return demo


def _available_heads(pred: Predictor) -> list[str]:
    cfg = pred.model.config
    heads = ["gald"]
    if cfg.probes:
        heads.append("fcn")
        if cfg.uses_ga:
            heads.append("ga")
    return heads
