"""Every endpoint through gradio_client against the in-process server; bad uploads give specific errors
and the server keeps answering."""

from __future__ import annotations

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from app.handlers import ANALYZE_OUTPUTS, PHOTOS

ENDPOINTS = {"/analyze", "/segment", "/overlay", "/channel", "/attribute", "/dashboard", "/pixel", "/pixel_attribution",
             "/figure"}
NAMES = [n for n in ANALYZE_OUTPUTS if n != "state"]  # the state is hidden from the client


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    return Client(server, verbose=False, download_files=str(tmp_path_factory.mktemp("client")),
                  analytics_enabled=False)


def _analyze(client, image, label=None):
    out = client.predict(handle_file(str(image)), handle_file(str(label)) if label else None, 0.6, 5,
                         api_name="/analyze")
    return dict(zip(NAMES, out, strict=True))


def test_endpoints_listed(client):
    assert ENDPOINTS <= set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])


def test_analyze_and_every_endpoint(client, example_files, predictor):
    image, label = example_files
    out = _analyze(client, image, label)
    for key in ("input", "fcn", "ga", "gald", "gt", "disagreement", "ld_on", "ld_off", "ld_change", "mask_mean",
                "channel_image"):
        # photographic pictures travel as JPEG, colour codes read exactly (disagreement, LD change) as PNG
        assert str(out[key]).endswith(".jpg" if key in PHOTOS else ".png"), key
        assert Image.open(out[key]).size == (128, 96)
    # the input comes back as the app decoded it, pixel for pixel (lossless)
    assert (np.asarray(Image.open(out["input"]).convert("RGB")) == np.asarray(Image.open(image).convert("RGB"))).all()
    # the disagreement map's colours are exact: every pixel is the dimmed image's grey or one of the codes
    from app.figures import BOTH_WRONG, DIFFER, GA_RIGHT, GALD_RIGHT

    colours = np.unique(np.asarray(Image.open(out["disagreement"]).convert("RGB")).reshape(-1, 3), axis=0)
    assert all(r == g == b or (r, g, b) in {GALD_RIGHT, GA_RIGHT, BOTH_WRONG, DIFFER} for r, g, b in colours.tolist())
    gt = np.asarray(Image.open(out["gt"]).convert("RGB"))
    assert gt.shape == (96, 128, 3)
    assert "Analysed" in out["summary"] and "Channel **5**" in out["channel_text"]
    assert len(out["gallery"]) == 12 and all(str(tile["image"]).endswith(".png") for tile in out["gallery"])
    iou = out["image_iou"]
    assert iou["headers"][0] == "class" and len(iou["data"]) == 17  # 11 classes, 2 totals, 4 error kinds
    assert iou["data"][-4][0] == "errors: missed segment % (½ res.)"
    pred = np.asarray(Image.open(out["prediction_png"]))  # the class ids, lossless
    assert pred.shape == (96, 128) and pred.max() < 11
    assert (pred == predictor.cached(predictor.analyze(np.asarray(Image.open(image).convert("RGB"))).key
                                     ).preds["gald"]).all()
    assert set(np.load(out["stages_npz"]).files) >= {"F", "F_GA", "F_GALD", "M", "pred_gald"}

    overlays = client.predict(0.3, api_name="/overlay")
    assert len(overlays) == 6 and all(str(p).endswith(".jpg") for p in overlays)
    img, text = client.predict(200, api_name="/channel")
    assert str(img).endswith(".jpg") and "Channel **200**" in text
    img, text = client.predict("ga", "Road", "gradcam", 8, api_name="/attribute")
    assert str(img).endswith(".jpg") and "GradCAM" in text and "Road" in text
    note, *_ = client.predict(api_name="/dashboard")
    assert "No evaluation JSON found" in note


def test_segment_returns_the_same_prediction_as_analyze(client, example_files, tmp_path):
    image, _ = example_files
    summary, png = client.predict(handle_file(str(image)), None, api_name="/segment")
    full = _analyze(client, image)
    assert "Analysed" in summary
    assert (np.asarray(Image.open(png)) == np.asarray(Image.open(full["prediction_png"]))).all()
    with pytest.raises(AppError, match="input scale"):
        client.predict(handle_file(str(image)), 99, api_name="/segment")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(AppError):
        client.predict(handle_file(str(bad)), None, api_name="/segment")
    assert client.predict(handle_file(str(image)), 1.0, api_name="/segment")[1].endswith(".png")


def test_channel_before_analyze_is_an_error(server, tmp_path):
    fresh = Client(server, verbose=False, download_files=str(tmp_path), analytics_enabled=False)
    with pytest.raises(AppError, match="Analyze an image first"):
        fresh.predict(3, api_name="/channel")


def _bad_uploads(tmp_path, size=(128, 96)):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    raw = (tmp_path / "ok.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (96, 128, 3), np.uint8)).save(raw)
    cut = tmp_path / "cut.png"
    cut.write_bytes(raw.read_bytes()[:3000])
    dot = tmp_path / "dot.png"
    Image.new("RGB", (1, 1)).save(dot)
    return [(text, None, "not a readable image"), (cut, None, "truncated or corrupt"),
            (dot, None, "is 1x1 pixels")]


def test_bad_uploads_then_good(client, example_files, tmp_path):
    image, label = example_files
    for bad, lab, message in _bad_uploads(tmp_path):
        with pytest.raises(AppError, match=message):
            _analyze(client, bad, lab)
    wrong = tmp_path / "wrong_label.png"
    Image.new("L", (64, 48)).save(wrong)
    with pytest.raises(AppError, match="is 64x48 pixels but the image is 128x96"):
        _analyze(client, image, wrong)
    colours = tmp_path / "colours.png"
    Image.new("RGB", (128, 96), (1, 2, 3)).save(colours)
    with pytest.raises(AppError, match=r"not in the model's palette, e.g. \(1, 2, 3\)"):
        _analyze(client, image, colours)
    with pytest.raises(AppError, match="Invalid file type"):
        _analyze(client, _txt(tmp_path))
    with pytest.raises(AppError, match="Unicorn is not in the list of choices"):
        client.predict("gald", "Unicorn", "gradcam", 8, api_name="/attribute")
    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\x89PNG" + bytes(26 * 2**20))  # over max_file_size: refused at upload
    with pytest.raises(Exception, match="exceeds the maximum file size"):
        _analyze(client, huge)
    # the server still works
    out = _analyze(client, image)
    assert out["gt"] is None and "No ground truth" in out["summary"]


def _txt(tmp_path):
    p = tmp_path / "readme.txt"
    p.write_text("text")
    return p


def test_16bit_and_rgba_uploads_work(client, tmp_path):
    deep = tmp_path / "deep.png"
    Image.fromarray((np.arange(96 * 128).reshape(96, 128) * 5).astype(np.uint16)).save(deep)
    out = _analyze(client, deep)
    assert "8-bit" in out["summary"]
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (128, 96), (10, 200, 30, 128)).save(rgba)
    assert str(_analyze(client, rgba)["gald"]).endswith(".jpg")


def test_optional_inputs_default_and_bad_arguments_are_named(client, example_files):
    """/analyze with the image alone; None for the sliders means their defaults; bad values name the argument."""
    image, _ = example_files
    out = dict(zip(NAMES, client.predict(handle_file(str(image)), api_name="/analyze"), strict=True))
    assert out["gt"] is None and "Channel **0**" in out["channel_text"]
    out = dict(zip(NAMES, client.predict(handle_file(str(image)), None, None, None, api_name="/analyze"), strict=True))
    assert str(out["gald"]).endswith(".jpg")
    with pytest.raises(AppError, match=r"opacity \(alpha\) must be between 0 and 1, got 7"):
        client.predict(handle_file(str(image)), None, 7, 0, api_name="/analyze")
    out = dict(zip(NAMES, client.predict(handle_file(str(image)), None, None, None, 2.0, api_name="/analyze"),
                   strict=True))
    assert "at input scale 2 (network input 256×192)" in out["summary"]
    assert Image.open(out["gald"]).size == (128, 96)  # predictions stay at the image's size
    with pytest.raises(AppError, match="input scale must be between 0.5 and 2, got 3"):
        client.predict(handle_file(str(image)), None, None, None, 3, api_name="/analyze")
    with pytest.raises(AppError, match="mask channel must be between 0 and"):
        client.predict(100000, api_name="/channel")
    assert len(client.predict(None, api_name="/overlay")) == 6


def _pdf_page_size(path) -> tuple[float, float]:
    import re

    data = open(path, "rb").read()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    box = re.search(rb"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\]", data)
    return float(box[3]) - float(box[1]), float(box[4]) - float(box[2])


def test_figure_endpoint_returns_the_paper_figure_as_pdf(client, example_files):
    from gald.reports.figures import FIG5_SIZE

    image, label = example_files
    _analyze(client, image, label)
    pdf = client.predict(api_name="/figure")
    assert str(pdf).endswith(".pdf")
    assert _pdf_page_size(pdf) == pytest.approx((72 * FIG5_SIZE[0], 72 * FIG5_SIZE[1]), abs=1)


def test_pixel_query_endpoints(client, example_files):
    image, label = example_files
    _analyze(client, image, label)
    text, bars, attention, note = client.predict(64, 50, api_name="/pixel")
    assert "Pixel (64, 50)" in text and "GALD head" in text and "ground truth" in text
    assert attention is None and "no per-pixel attention map" in note  # the test model's GA is CGNL
    assert bars is not None
    pic, gt_pic, why = client.predict(64, 50, "gald", api_name="/pixel_attribution")
    assert str(pic).endswith(".jpg") and "GradCAM" in why
    with pytest.raises(AppError, match=r"x \(column\) must be between 0 and 127, got 500"):
        client.predict(500, 50, api_name="/pixel")
    with pytest.raises(AppError, match="Give both pixel coordinates"):
        client.predict(None, 50, api_name="/pixel")
