"""GALD Studio in headless Chromium: upload, analyze, stage images, plots, channel slider, errors.

The app runs in-process on a free port with a tiny random checkpoint (no trained weights needed).
Screenshots land in the artifacts folder (tests/artifacts/app_*.png).
"""

from __future__ import annotations

import re
import socket

import numpy as np
import pytest
import torch
from PIL import Image

import gald
from gald.data.constants import CAMVID_CLASSES, CAMVID_PALETTE

pytestmark = pytest.mark.browser

CLASSES = CAMVID_CLASSES
PALETTE = [list(c) for c in CAMVID_PALETTE]
TIMEOUT = 90_000


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    from app.inference import Predictor
    from app.ui import EXAMPLES_DIR, build_demo, launch_options

    folder = tmp_path_factory.mktemp("browser")
    torch.manual_seed(0)
    model = gald.build_model(num_classes=11, backbone="resnet18", arrangement="gald").eval()
    gald.save_checkpoint(folder / "tiny", model, {"class_names": CLASSES, "palette": PALETTE,
                                                  "inference": {"scale": 1.0}})
    demo = build_demo(Predictor.from_checkpoint(folder / "tiny"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                    **launch_options())
        # a small image + label (128x96) keeps the CPU work of the test low
        img = Image.open(EXAMPLES_DIR / "camvid_0016E5_08101.png").convert("RGB").resize((128, 96))
        lab = Image.open(EXAMPLES_DIR / "camvid_0016E5_08101_label.png").resize((128, 96), Image.NEAREST)
        img.save(folder / "street.png")
        lab.save(folder / "street_label.png")
        (folder / "broken.png").write_text("this is not an image")
        yield f"http://127.0.0.1:{port}/", folder
    finally:
        demo.close()


def _wait_image(page, elem_id: str) -> None:
    page.locator(f"#{elem_id} img").first.wait_for(state="visible", timeout=TIMEOUT)


def _wait_upload(page, elem_id: str, name: str) -> None:
    page.locator(f"#{elem_id} td.filename[aria-label='{name}']").wait_for(timeout=TIMEOUT)


def test_app_in_browser(chromium_browser, app_url, artifacts_dir):
    url, folder = app_url
    page = chromium_browser.new_page(viewport={"width": 1440, "height": 1000})
    try:
        page.goto(url, wait_until="domcontentloaded", timeout=TIMEOUT)
        page.locator("#gald-analyze").wait_for(timeout=TIMEOUT)

        # 1. a bad upload shows a specific, visible error and the app keeps working
        page.locator("#gald-image-upload input[type=file]").set_input_files(str(folder / "broken.png"))
        _wait_upload(page, "gald-image-upload", "broken.png")
        page.locator("#gald-analyze").click()
        error = page.get_by_text(re.compile("is not a readable image")).first
        error.wait_for(state="visible", timeout=TIMEOUT)
        page.screenshot(path=str(artifacts_dir / "app_error.png"))
        page.locator(".toast-close").first.click()
        error.wait_for(state="hidden", timeout=TIMEOUT)

        # 2. upload image + ground truth, analyze, see the four stage images and ground truth
        page.locator("#gald-image-upload button[aria-label='Clear']").first.click()
        page.locator("#gald-image-upload input[type=file]").set_input_files(str(folder / "street.png"))
        page.locator("#gald-label-upload input[type=file]").set_input_files(str(folder / "street_label.png"))
        _wait_upload(page, "gald-image-upload", "street.png")
        _wait_upload(page, "gald-label-upload", "street_label.png")
        page.locator("#gald-analyze").click()
        for elem in ("gald-stage-input", "gald-stage-fcn", "gald-stage-ga", "gald-stage-gald", "gald-stage-gt"):
            _wait_image(page, elem)
        page.get_by_text(re.compile(r"Analysed \d+×\d+")).first.wait_for(timeout=TIMEOUT)
        page.screenshot(path=str(artifacts_dir / "app_stages.png"), full_page=True)

        # 2b. click a pixel of the GALD image: the pixel panel fills (probabilities, mask, attribution)
        gald_img = page.locator("#gald-stage-gald img").first
        box = gald_img.bounding_box()
        # the centre of pixel (64, 72): a click on a pixel's edge would depend on sub-pixel layout offsets
        gald_img.click(position={"x": box["width"] * 0.5 + 0.5, "y": box["height"] * 0.75 + 0.5})
        page.locator("#gald-pixel-text").get_by_text(re.compile(r"Pixel \(\d+, \d+\)")).wait_for(timeout=TIMEOUT)
        page.locator("#gald-pixel-text").get_by_text("LD mask here").wait_for(timeout=TIMEOUT)
        page.locator("#gald-pixel-bars .js-plotly-plot").first.wait_for(timeout=TIMEOUT)
        _wait_image(page, "gald-pixel-attr")
        x = int(page.locator("#gald-pixel-x input").input_value())
        y = int(page.locator("#gald-pixel-y input").input_value())
        assert (x, y) == (64, 72), (x, y)  # the clicked point of the 128x96 image, shown at natural size
        page.locator("#gald-pixel-text").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts_dir / "app_pixel_query.png"), full_page=True)

        # 2c. Figure 5 as a PDF download with the paper layout's page size
        page.locator("#gald-fig5-button").click()
        link = page.locator("#gald-fig5-file a").first
        link.wait_for(timeout=TIMEOUT)
        with page.expect_download(timeout=TIMEOUT) as download:
            link.click()
        pdf = (folder / "figure5.pdf")
        download.value.save_as(str(pdf))
        data = pdf.read_bytes()
        assert data.startswith(b"%PDF-")
        box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)
        from gald.reports.figures import FIG5_SIZE
        assert (float(box[1]), float(box[2])) == pytest.approx((72 * FIG5_SIZE[0], 72 * FIG5_SIZE[1]), abs=1)

        # 3. masks tab: mean mask, scatter plot, channel slider
        page.get_by_role("tab", name="Masks").click()
        _wait_image(page, "gald-mask-mean")
        page.locator("#gald-scatter .js-plotly-plot").first.wait_for(timeout=TIMEOUT)
        number = page.locator("#gald-channel-slider input[type=number]")
        number.fill("42")
        number.press("Enter")
        page.locator("#gald-channel-text").get_by_text(re.compile(r"Channel\s+42\b")).wait_for(timeout=TIMEOUT)
        # clicking a gallery tile shows that channel in the browser
        caption = page.locator("#gald-gallery").get_by_text(re.compile(r"↑ ch \d+")).first.inner_text()
        chosen = re.search(r"ch (\d+)", caption).group(1)
        page.locator("#gald-gallery img").first.click()
        page.locator("#gald-channel-text").get_by_text(re.compile(rf"Channel\s+{chosen}\b")).wait_for(timeout=TIMEOUT)
        page.keyboard.press("Escape")
        page.screenshot(path=str(artifacts_dir / "app_masks.png"), full_page=True)

        # 4. dashboard: per-image IoU table and confusion matrix (ground truth was given)
        page.get_by_role("tab", name="Dashboard").click()
        page.locator("#gald-confusion .js-plotly-plot").first.wait_for(timeout=TIMEOUT)
        page.get_by_text("No evaluation JSON found").first.wait_for(timeout=TIMEOUT)
        page.screenshot(path=str(artifacts_dir / "app_dashboard.png"), full_page=True)

        # 5. attribution
        page.get_by_role("tab", name="Attribution").click()
        page.get_by_role("button", name="Explain").click()
        _wait_image(page, "gald-attribution")
        page.screenshot(path=str(artifacts_dir / "app_attribution.png"), full_page=True)
    except Exception:
        page.screenshot(path=str(artifacts_dir / "app_failure.png"), full_page=True)
        raise
    finally:
        page.close()

    shot = artifacts_dir / "app_stages.png"
    data = np.asarray(Image.open(shot).convert("RGB"))
    assert data.shape[1] == 1440 and data.std() > 10
