"""`build_demo(predictor) -> gr.Blocks`: event wiring only (layout in app.tabs, logic in app.handlers / views).

Tabs follow the paper: Stages (Fig. 5), Masks (Fig. 4), Dashboard (evaluation JSONs + this image),
Attribution (captum). Every event has an API name for gradio_client: analyze, overlay, channel,
attribute, pixel, pixel_attribution, figure, dashboard. Components and outputs are addressed by name
(`Wiring`). Per-session state holds the analysed image (id, key, pixels, label, input scale); the stage
outputs themselves live in the Predictor's LRU cache, so sliders and tabs never rerun the network.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr

from . import budget, limits, tabs
from .handlers import (
    ANALYZE_OUTPUTS,
    DEFAULT_ALPHA,
    LAZY_TABS,
    OUTPUT_GROUPS,
    OVERLAY_OUTPUTS,
    SEGMENT_OUTPUTS,
    STAGE_PICTURES,
    make_handlers,
)
from .inference import Predictor

log = logging.getLogger(__name__)
EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
MAX_FILE_SIZE = budget.MAX_UPLOAD_SIZE
QUEUE_SIZE = 16
LAZY_OUTPUTS = ("open_tab", "filled", *(name for group in LAZY_TABS.values() for name in OUTPUT_GROUPS[group]))
DASHBOARD_OUTPUTS = ("dashboard_note", "class_iou", "small_large", "boundary", "errors", "learning", "ablation_table",
                     "ablation_plot", "eval_box", "ablation_box")
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
#gald-stage-status {min-height:1.6em;}
/* boxes with nothing to show yet (pixel query, attribution, figure files) take no room until filled */
/* (no commas inside :has(): Gradio splits custom CSS selectors on every comma) */
.gald-when-filled:not(:has(img)):not(:has(a)) {display:none !important;}
/* plotly draws a plot in a display:none box 0 px wide: an empty plot box is collapsed instead */
.gald-plot-when-filled:not(:has(.js-plotly-plot)) {height:0 !important; min-height:0 !important; padding:0 !important;
  border:0 !important; overflow:hidden !important; visibility:hidden;}
/* natural size up to the box: Gradio maps clicks to pixels assuming images are never upscaled */
.gald-img img {width:auto !important; height:auto !important; max-width:100%; max-height:100%; object-fit:contain;}
"""


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


class Wiring:
    """Components by name, and event callbacks that return {name: value} turned into {component: value}
    (Gradio updates only the components named; an API caller gets the outputs in the listed order)."""

    def __init__(self, components: dict[str, Any]) -> None:
        self.c = components

    def __getitem__(self, name: str) -> Any:
        return self.c[name]

    def these(self, names) -> list[Any]:
        return [self.c[n] for n in names]

    def named(self, fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[Any, Any]]:
        @functools.wraps(fn)  # keeps the signature: Gradio passes gr.SelectData by annotation
        def run(*args, **kwargs):
            return {self.c[name]: value for name, value in fn(*args, **kwargs).items()}

        return run


def build_demo(pred: Predictor) -> gr.Blocks:
    h = make_handlers(pred)
    # delete_cache: every hour, drop uploads / outputs older than two hours (long-running Spaces)
    with gr.Blocks(title="GALD Studio", delete_cache=(3600, 7200)) as demo:
        c: dict[str, Any] = {"state": gr.State(None), "open_tab": gr.State("stages"), "filled": gr.State({})}
        gr.Markdown("# GALD Studio\nLook inside **GALDNet** — *Global Aggregation then Local Distribution in "
                    "Fully Convolutional Networks* (Li et al., BMVC 2019): what the FCN, GA and GALD heads "
                    f"see, and where the LD mask M puts global context.  \n`{pred.description}`",
                    elem_id="gald-header")
        c |= tabs.build_inputs(pred)
        with gr.Tabs():
            builders = {"stages": lambda: tabs.build_stages_tab(pred, DEFAULT_ALPHA),
                        "masks": lambda: tabs.build_masks_tab(pred),
                        "dashboard": lambda: tabs.build_dashboard_tab(pred),
                        "attribution": lambda: tabs.build_attribution_tab(pred)}
            for tab_id, build in builders.items():
                with gr.Tab(tab_id.capitalize(), id=tab_id, elem_id=f"gald-tab-{tab_id}") as c[f"tab_{tab_id}"]:
                    c |= build()
        # the public API's analysis: every output at once, on a trigger the page does not show
        c["api_trigger"] = gr.Button(visible=False)
        c["segment_trigger"] = gr.Button(visible=False)
        w = Wiring(c)
        wire_analysis(w, h, pred)
        wire_views(w, h)
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=2)
    return demo


def wire_analysis(w: Wiring, h: SimpleNamespace, pred: Predictor) -> None:
    """Analyze: `/analyze` for API callers; in the page, the stage row first, then the rest of the Stages tab,
    then the open tab's pictures (the Masks and Dashboard tabs fill when they are opened)."""
    inputs = w.these(["image_file", "label_file", "alpha", "channel_slider", "scale"])
    w["api_trigger"].click(w.named(h.analyze), inputs, w.these(ANALYZE_OUTPUTS), api_name="analyze",
                           concurrency_limit=1)
    w["segment_trigger"].click(w.named(h.segment), w.these(["image_file", "scale"]), w.these(SEGMENT_OUTPUTS),
                               api_name="segment", concurrency_limit=1)
    stages = [*OUTPUT_GROUPS["stages"], "stage_status"]
    # no gradio progress overlay on the pictures: its animated timers kept a core of a 2-core machine busy while
    # the network ran (stage row 1.3 s -> 1.0 s in benchmarks.browser_speed); the static "Analyzing…" line
    # (stage_status) says that work is under way, and errors still arrive as gradio's error toast

    def then_the_rest(first) -> None:
        first.failure(None, None, [w["stage_status"]], js="() => ''")
        details = first.success(w.named(h.stage_details), w.these(["state", "alpha"]),
                                w.these(OUTPUT_GROUPS["stage_details"]), api_visibility="undocumented",
                                show_progress="hidden")
        details.success(w.named(h.open_tab), w.these(["open_tab", "state", "channel_slider", "filled"]),
                        w.these(LAZY_OUTPUTS), api_visibility="undocumented", show_progress="hidden")

    w["run"].click(None, None, [w["stage_status"]], js=f"() => {json.dumps(tabs.ANALYZING)}")
    then_the_rest(w["run"].click(w.named(h.analyze_stages), inputs, w.these(stages), api_visibility="undocumented",
                                 concurrency_limit=1, show_progress="hidden"))
    rows, labels = example_rows()
    with w["examples_slot"]:
        examples = gr.Examples(rows, w.these(["image_file", "label_file"]), example_labels=labels,
                               label="Examples: CamVid validation frames with ground truth", examples_per_page=8)
    examples.load_input_event.then(None, None, [w["stage_status"]], js=f"() => {json.dumps(tabs.ANALYZING)}")
    then_the_rest(examples.load_input_event.then(
        w.named(h.analyze_example), w.these(["image_file", "label_file"]),
        w.these([*stages, "alpha", "channel_slider", "scale"]), api_visibility="undocumented", concurrency_limit=1,
        show_progress="hidden"))
    for tab_id in ("stages", "masks", "dashboard", "attribution"):  # a tab fills when it is opened
        w[f"tab_{tab_id}"].select(w.named(functools.partial(h.open_tab, tab_id)),
                                  w.these(["state", "channel_slider", "filled"]), w.these(LAZY_OUTPUTS),
                                  api_visibility="private", show_progress="hidden")


def wire_views(w: Wiring, h: SimpleNamespace) -> None:
    """Sliders, gallery, pixel query, attribution, figures, dashboard reload: each reuses the cached analysis."""
    w["alpha"].input(w.named(h.overlay), w.these(["state", "alpha"]), w.these(OVERLAY_OUTPUTS), api_name="overlay",
                     show_progress="hidden", trigger_mode="always_last")
    channel_outputs = w.these(["channel_image", "channel_text"])
    w["channel_slider"].input(w.named(h.channel), w.these(["state", "channel_slider"]), channel_outputs,
                              api_name="channel", show_progress="hidden", trigger_mode="always_last")
    w["gallery"].select(w.named(h.pick_channel), [w["state"]], [w["channel_slider"], *channel_outputs],
                        show_progress="hidden", api_visibility="undocumented")  # documented: /channel
    w["explain"].click(w.named(h.attribute), w.these(["state", "attribution_head", "attribution_class",
                                                      "attribution_method", "attribution_steps"]),
                       w.these(["attribution", "attribution_text"]), api_name="attribute", concurrency_limit=1,
                       concurrency_id=budget.GRADIENT_SLOT)
    pixel_in = w.these(["state", "pixel_x", "pixel_y"])
    fast = w.these(["pixel_text", "pixel_bars", "pixel_attention", "pixel_attention_text"])
    slow = w.these(["pixel_attribution", "pixel_attribution_gt", "pixel_attribution_text"])
    w["pixel_run"].click(w.named(h.pixel), pixel_in, fast, api_name="pixel", show_progress="hidden").then(
        w.named(h.pixel_attribution), [*pixel_in, w["pixel_head"]], slow, api_name="pixel_attribution",
        concurrency_limit=1, concurrency_id=budget.GRADIENT_SLOT)
    for name in STAGE_PICTURES:
        w[name].select(w.named(h.click_pixel), [w["state"]], w.these(["pixel_x", "pixel_y"]),
                       api_visibility="undocumented", show_progress="hidden").then(
            w.named(h.pixel), pixel_in, fast, api_visibility="undocumented", show_progress="hidden").then(
            w.named(h.pixel_attribution), [*pixel_in, w["pixel_head"]], slow, api_visibility="undocumented",
            concurrency_limit=1, concurrency_id=budget.GRADIENT_SLOT)
    w["fig5_button"].click(w.named(h.paper_figure), [w["state"], gr.State("fig5"), gr.State("pdf")],
                           [w["fig5_file"]], api_name="figure", concurrency_limit=1)
    w["fig4_button"].click(w.named(h.paper_figure), [w["state"], gr.State("fig4"), gr.State("pdf")],
                           [w["fig4_file"]], api_visibility="undocumented", concurrency_limit=1)
    w["reload"].click(w.named(h.dashboard), None, w.these(DASHBOARD_OUTPUTS), api_name="dashboard")
