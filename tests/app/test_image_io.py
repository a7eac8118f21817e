"""Uploads: every bad file gets a specific InputError; odd-but-valid files decode to RGB uint8."""

from __future__ import annotations

import io

import numpy as np
import pytest
from app_helpers import CAMVID_PALETTE
from PIL import Image

from app import image_io
from app.image_io import InputError, load_image, load_label

K = 11


def _save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


def _gradient(w=64, h=48) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // w, y * 255 // h, (x + y) % 256], 2).astype(np.uint8)


def test_text_file_named_png(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("hello, I am not an image")
    with pytest.raises(InputError, match="not a readable image; upload a PNG, JPEG"):
        load_image(p)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    with pytest.raises(InputError, match="is empty"):
        load_image(p)


def test_truncated_png(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    p = tmp_path / "cut.png"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_image(p)


def test_tiny_image_refused(tmp_path):
    p = _save(Image.new("RGB", (1, 1)), tmp_path / "dot.png")
    with pytest.raises(InputError, match=r"is 1x1 pixels; at least 16x16"):
        load_image(p)


def test_extreme_aspect_refused(tmp_path):
    p = _save(Image.new("RGB", (2000, 16)), tmp_path / "strip.png")
    with pytest.raises(InputError, match="aspect ratios beyond 10:1"):
        load_image(p)


def test_16bit_png_converted(tmp_path):
    arr = (np.arange(64 * 48, dtype=np.uint32).reshape(48, 64) * 21).astype(np.uint16)
    p = _save(Image.fromarray(arr), tmp_path / "deep.png")
    assert Image.open(p).mode.startswith("I")
    out = load_image(p)
    assert out.rgb.dtype == np.uint8 and out.rgb.shape == (48, 64, 3)
    assert out.rgb[-1, -1, 0] == round(int(arr[-1, -1]) * 255 / 65535)
    assert any("8-bit" in n for n in out.notices)


def test_rgba_flattened_on_white(tmp_path):
    arr = np.zeros((48, 64, 4), np.uint8)
    arr[..., 0] = 200
    arr[:, 32:, 3] = 255  # left half transparent
    out = load_image(_save(Image.fromarray(arr, "RGBA"), tmp_path / "alpha.png"))
    assert out.rgb.shape == (48, 64, 3)
    assert tuple(out.rgb[0, 0]) == (255, 255, 255) and tuple(out.rgb[0, 40]) == (200, 0, 0)


@pytest.mark.parametrize("mode", ["CMYK", "P", "L", "1", "LA", "I", "F"])
def test_colour_modes(tmp_path, mode):
    img = Image.fromarray(_gradient()).convert(mode) if mode not in ("I", "F") else \
        Image.fromarray(_gradient()[..., 0].astype(np.int32 if mode == "I" else np.float32) / (1 if mode == "I" else 255.0))
    fmt = "TIFF" if mode in ("CMYK", "F", "I") else "PNG"
    out = load_image(_save(img, tmp_path / f"m.{fmt.lower()}", format=fmt))
    assert out.rgb.dtype == np.uint8 and out.rgb.shape == (48, 64, 3)


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "BMP", "TIFF"])
def test_formats(tmp_path, fmt):
    out = load_image(_save(Image.fromarray(_gradient()), tmp_path / f"x.{fmt.lower()}", format=fmt))
    assert out.rgb.shape == (48, 64, 3)


def test_animated_gif_uses_first_frame(tmp_path):
    frames = [Image.new("RGB", (64, 48), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    p = tmp_path / "x.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = load_image(p)
    assert out.rgb.shape == (48, 64, 3)
    assert tuple(out.rgb[10, 10]) == (255, 0, 0)
    assert any("more than one frame; using the first" in n for n in out.notices)


def test_exif_orientation(tmp_path):
    img = Image.fromarray(_gradient(64, 48))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    out = load_image(_save(img, tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95))
    assert out.rgb.shape == (64, 48, 3) and out.original_size == (48, 64)


def test_large_image_downscaled_with_notice(tmp_path):
    p = _save(Image.new("L", (3000, 2000), 128), tmp_path / "big.png")
    out = load_image(p)
    assert max(out.rgb.shape[:2]) == image_io.MAX_SIDE and out.original_size == (3000, 2000)
    assert any("downscaled" in n for n in out.notices)


def test_decompression_bomb_refused(tmp_path):
    # 12000x12000 = 144 MP > Pillow's 89 MP limit; a 1-bit constant PNG is ~20 KB and cheap to write.
    psutil = pytest.importorskip("psutil")
    p = _save(Image.new("1", (12000, 12000), 0), tmp_path / "bomb.png")
    assert p.stat().st_size < 1_000_000
    rss = psutil.Process().memory_info().rss
    with pytest.raises(InputError, match="decompression-bomb limit"):
        load_image(p)
    # refused from the header: the 432 MB RGB decode never happens
    assert psutil.Process().memory_info().rss - rss < 64 * 2**20


def test_file_too_large(tmp_path, monkeypatch):
    monkeypatch.setattr(image_io, "MAX_FILE_BYTES", 100)
    p = _save(Image.fromarray(_gradient()), tmp_path / "x.bmp")
    with pytest.raises(InputError, match="the limit is"):
        load_image(p)


# ----------------------------------------------------------------------------- labels
def _label_kw(size=(64, 48)):
    return dict(num_classes=K, palette=CAMVID_PALETTE, image_size=size)


def test_label_ids_with_void(tmp_path):
    ids = np.arange(64 * 48).reshape(48, 64) % K
    ids[0, :10] = 11  # CamVid void
    ids[1, :10] = 255
    out = load_label(_save(Image.fromarray(ids.astype(np.uint8)), tmp_path / "l.png"), **_label_kw())
    assert out.dtype == np.uint8 and (out[0, :10] == 255).all() and (out[1, :10] == 255).all()
    assert (out[5] == ids[5]).all()


def test_label_out_of_range_refused(tmp_path):
    ids = np.full((48, 64), 3, np.uint8)
    ids[:10] = 40  # ~21% unknown ids
    with pytest.raises(InputError, match=r"values outside 0..10 \(e.g. \[40\]\)"):
        load_label(_save(Image.fromarray(ids), tmp_path / "l.png"), **_label_kw())


def test_label_few_out_of_range_ignored(tmp_path):
    ids = np.full((48, 64), 3, np.uint8)
    ids[0, :5] = 40  # < 1%
    notices = []
    out = load_label(_save(Image.fromarray(ids), tmp_path / "l.png"), notices=notices, **_label_kw())
    assert (out[0, :5] == 255).all() and notices


def test_label_colour(tmp_path):
    ids = np.arange(64 * 48).reshape(48, 64) % K
    rgb = np.asarray(CAMVID_PALETTE, np.uint8)[ids]
    rgb[0, :4] = 0  # black = void
    out = load_label(_save(Image.fromarray(rgb), tmp_path / "c.png"), **_label_kw())
    assert (out[1:] == ids[1:]).all() and (out[0, :4] == 255).all()


def test_label_colour_not_in_palette(tmp_path):
    rgb = np.full((48, 64, 3), 128, np.uint8)
    rgb[:, :20] = (1, 2, 3)
    with pytest.raises(InputError, match=r"not in the model's palette, e.g. \(1, 2, 3\)"):
        load_label(_save(Image.fromarray(rgb), tmp_path / "c.png"), **_label_kw())


def test_label_wrong_size(tmp_path):
    p = _save(Image.new("L", (30, 20)), tmp_path / "small.png")
    with pytest.raises(InputError, match="is 30x20 pixels but the image is 64x48"):
        load_label(p, **_label_kw())


def test_label_of_downscaled_image_resized(tmp_path):
    p = _save(Image.new("L", (200, 100), 3), tmp_path / "orig.png")
    out = load_label(p, original_size=(200, 100), **_label_kw((100, 50)))
    assert out.shape == (50, 100) and (out == 3).all()
