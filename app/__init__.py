"""GALD Studio: a Gradio app to look inside GALDNet (Li et al., BMVC 2019).

    app.image_io     decode and validate uploads (images, ground-truth labels); no gradio
    app.inference    Predictor: checkpoint -> cached per-image stage outputs (Fig. 4-5); no gradio
    app.figures      pure numpy pictures: palette colouring, overlays, heatmaps, segments
    app.plots        plotly figures and tables (dashboard, scatter, confusion matrix)
    app.forest       the Dashboard's forest plot of Table 1 (paired deltas to FCN, Holm-corrected intervals)
    app.views        compose the pictures for one analysed image; no gradio
    app.attribution  captum GradCAM / Integrated Gradients for a class and head
    app.picture_store  pictures -> content-named PNG / JPEG files for the UI
    app.handlers     the event callbacks, each returning its outputs by name
    app.tabs         the layout: one builder per part of the page, components by name
    app.ui           build_demo(predictor) -> gr.Blocks (event wiring)

`app.py` at the repository root is the launcher; nothing here builds a UI at import time.
"""

# the bundled model the app, `app.py` and `Predictor.from_checkpoint` load by default (kept here, in a module
# without imports, so that app.py can read it before its heavy imports)
DEFAULT_CHECKPOINT = "checkpoints/galdnet_lite2_camvid"
