"""Inputs: the case table (malformed uploads and parameters) and the files each case writes."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .common import (
    GOOD_SIZE,
    PALETTE,
    encoded,
    good_png,
    save,
    solid,
    synthetic_pair,
    write_zero_png,
)

Made = tuple[Any, Any]  # (image, label): a Path (uploaded), a raw str (sent as is) or None
Check = Callable[[dict[str, Any]], str | None]  # outputs by name -> None if right, else what is wrong


@dataclass
class InputCase:
    """`make(dir)` writes the upload(s). Exactly one of `error` (regex the user-facing message must match)
    and `check` (inspects the outputs of a successful analysis) says what is expected."""

    name: str
    expected: str
    make: Callable[[Path], Made]
    error: str | None = None
    check: Check | None = None
    alpha: Any = 0.6
    channel: Any = 0
    slow: bool = False  # heavy for the test budget (still run by the report and by pytest -m slow)


def _img(out: dict[str, Any], key: str = "input") -> np.ndarray:
    path = out.get(key)
    if not path:
        raise AssertionError(f"no {key!r} image in the outputs")
    return np.asarray(Image.open(path).convert("RGB")).astype(np.int16)


def _size_is(size: tuple[int, int], key: str = "input") -> Check:
    def check(out: dict[str, Any]) -> str | None:
        got = Image.open(out[key]).size
        return None if got == size else f"{key} image is {got[0]}x{got[1]}, expected {size[0]}x{size[1]}"
    return check


def _all(*checks: Check) -> Check:
    def check(out: dict[str, Any]) -> str | None:
        for c in checks:
            problem = c(out)
            if problem:
                return problem
        return None
    return check


def _summary_has(text: str) -> Check:
    def check(out: dict[str, Any]) -> str | None:
        return None if text.lower() in str(out.get("summary", "")).lower() else f"summary lacks {text!r}"
    return check


def _mean_colour(expected: tuple[int, int, int], tol: float, region: tuple[slice, slice] | None = None) -> Check:
    def check(out: dict[str, Any]) -> str | None:
        img = _img(out)
        part = img[region] if region else img
        mean = part.reshape(-1, 3).mean(0)
        if np.abs(mean - np.asarray(expected)).max() <= tol:
            return None
        return f"mean colour {tuple(int(round(v)) for v in mean)} is not {expected} (+-{tol})"
    return check


def _iou_rows(out: dict[str, Any]) -> str | None:
    iou = out.get("iou") or {}
    rows = iou.get("data") if isinstance(iou, dict) else None
    if not rows:
        return "no per-class IoU rows although a label was given"
    return None if out.get("gt") else "no ground-truth overlay although a label was given"


# --- makers -------------------------------------------------------------------------------------------
def _rename(make: Callable[[Path], Made], d: Path, name: str) -> Made:
    path, label = make(d)
    return path.rename(d / name), label


def _empty(d: Path) -> Made:
    (d / "empty.png").write_bytes(b"")
    return d / "empty.png", None


def _truncated(fmt: str, suffix: str, keep: float) -> Callable[[Path], Made]:
    def make(d: Path) -> Made:
        data = encoded(fmt)
        p = d / f"truncated{suffix}"
        p.write_bytes(data[: int(len(data) * keep)])
        return p, None
    return make


def _renamed(fmt: str, suffix: str) -> Callable[[Path], Made]:
    def make(d: Path) -> Made:
        p = d / f"{fmt.lower()}_renamed{suffix}"
        p.write_bytes(encoded(fmt, quality=95) if fmt == "JPEG" else encoded(fmt))
        return p, None
    return make


def _text_file(name: str, text: str) -> Callable[[Path], Made]:
    def make(d: Path) -> Made:
        (d / name).write_text(text)
        return d / name, None
    return make


HTML = "<!doctype html><html><body><script>alert(document.cookie)</script><img src=x onerror=alert(1)></body></html>"
SVG = ('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="128" height="96" onload="alert(1)">'
       '<rect width="128" height="96" fill="red"/></svg>')


def _zero_png(w: int, h: int) -> Callable[[Path], Made]:
    def make(d: Path) -> Made:
        return write_zero_png(d / f"zeros_{w}x{h}.png", w, h), None
    return make


def _sized(w: int, h: int) -> Callable[[Path], Made]:
    def make(d: Path) -> Made:
        return save(Image.new("RGB", (w, h), (90, 120, 30)), d / f"size_{w}x{h}.png"), None
    return make


def _large_jpeg(d: Path) -> Made:
    w, h = 3000, 2000
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None, None]
    rgb = np.concatenate([np.broadcast_to(x, (h, w, 1)), np.broadcast_to(y, (h, w, 1)),
                          np.full((h, w, 1), 80, np.float32)], axis=2).astype(np.uint8)
    return save(Image.fromarray(rgb), d / "large_3000x2000.jpg", "JPEG", quality=85), None


RAMP16 = (np.arange(128, dtype=np.int64) * 512)[None, :].repeat(96, 0)  # 0 .. 65024


def _sixteen_bit(d: Path) -> Made:
    return save(Image.fromarray(RAMP16.astype(np.uint16)), d / "grey16.png"), None


def _check_sixteen_bit(out: dict[str, Any]) -> str | None:
    got = _img(out)[..., 0]
    want = np.rint(RAMP16 * 255.0 / 65535.0)
    err = float(np.abs(got - want).max())
    return None if err <= 1 else f"16-bit ramp mis-scaled: max error {err:.0f} grey levels"


CMYK_RGB = (200, 60, 40)


def _cmyk(d: Path) -> Made:
    return save(solid(CMYK_RGB).convert("CMYK"), d / "cmyk.jpg", "JPEG", quality=95), None


QUADS = [(255, 0, 0), (0, 200, 0), (0, 0, 255), (250, 220, 0)]


def _palette_image(transparent: bool) -> Callable[[Path], Made]:
    def make(d: Path) -> Made:
        idx = np.zeros((96, 128), np.uint8)
        idx[:48, 64:], idx[48:, :64], idx[48:, 64:] = 1, 2, 3
        img = Image.fromarray(idx, "P")
        img.putpalette([v for c in QUADS for v in c] + [0, 0, 0] * 252)
        name = "palette_trns.png" if transparent else "palette.png"
        return (save(img, d / name, transparency=0) if transparent else save(img, d / name)), None
    return make


def _check_quadrants(first: tuple[int, int, int]) -> Check:
    def check(out: dict[str, Any]) -> str | None:
        img = _img(out)
        want = [first, *QUADS[1:]]
        got = [tuple(int(v) for v in img[y, x]) for y, x in ((24, 32), (24, 96), (72, 32), (72, 96))]
        return None if got == [tuple(w) for w in want] else f"quadrant colours {got}, expected {want}"
    return check


def _exif_rotated(d: Path) -> Made:
    rgb = np.zeros((96, 128, 3), np.uint8)
    rgb[:, :64] = (230, 20, 20)  # left half red as stored; orientation 6 turns it 90 degrees clockwise
    rgb[:, 64:] = (20, 20, 230)
    exif = Image.Exif()
    exif[0x0112] = 6
    return save(Image.fromarray(rgb), d / "exif_rot6.jpg", "JPEG", quality=95, exif=exif.tobytes()), None


def _animated(fmt: str, suffix: str) -> Callable[[Path], Made]:
    def make(d: Path) -> Made:
        frames = [solid(c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
        p = d / f"animated{suffix}"
        frames[0].save(p, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
        return p, None
    return make


def _multipage_tiff(d: Path) -> Made:
    pages = [solid((255, 0, 0)), solid((0, 0, 255))]
    p = d / "two_pages.tiff"
    pages[0].save(p, "TIFF", save_all=True, append_images=pages[1:])
    return p, None


def _float_tiff(all_nan: bool) -> Callable[[Path], Made]:
    def make(d: Path) -> Made:
        arr = np.linspace(0, 1, 128, dtype=np.float32)[None, :].repeat(96, 0)
        if all_nan:
            arr[:] = np.nan
        else:
            arr[:16, :16] = np.nan
            arr[-8:, -8:] = np.inf
        return save(Image.fromarray(arr, "F"), d / ("all_nan.tiff" if all_nan else "float_nan.tiff")), None
    return make


def _check_float_nan(out: dict[str, Any]) -> str | None:
    img = _img(out)[..., 0]
    ramp = np.rint(np.linspace(0, 1, 128) * 255)
    if np.abs(img[:16, :16]).max() > 0 or np.abs(img[-8:, -8:]).max() > 0:
        return "NaN/inf pixels are not black"
    err = float(np.abs(img[40, 16:120] - ramp[16:120]).max())
    return None if err <= 1 else f"finite values mis-scaled (max error {err:.0f})"


def _int32_tiff(d: Path) -> Made:
    arr = (np.arange(128, dtype=np.int32) * 16 - 1000)[None, :].repeat(96, 0)  # -1000 .. 1032
    return save(Image.fromarray(arr, "I"), d / "int32_negative.tiff"), None


def _check_int32(out: dict[str, Any]) -> str | None:
    row = _img(out)[48, :, 0]
    ok = row[0] == 0 and row[-1] == 255 and bool(np.all(np.diff(row) >= 0))
    return None if ok else f"int32 ramp not rescaled to 0..255 monotonically (first {row[0]}, last {row[-1]})"


def _format(fmt: str, suffix: str, mode: str = "RGB") -> Callable[[Path], Made]:
    def make(d: Path) -> Made:
        img = Image.fromarray(synthetic_pair()[0]).convert(mode)
        return save(img, d / f"{fmt.lower()}_{mode}{suffix}", fmt), None
    return make


def _rgba(d: Path) -> Made:
    return save(Image.new("RGBA", GOOD_SIZE, (0, 0, 255, 128)), d / "rgba_half.png"), None


def _nothing(d: Path) -> Made:
    return None, None


def _raw_path(path: str) -> Callable[[Path], Made]:
    def make(d: Path) -> Made:
        return path, None
    return make


def _with_label(make_label: Callable[[Path], Path | None]) -> Callable[[Path], Made]:
    def make(d: Path) -> Made:
        rgb, _ = synthetic_pair(seed=3)
        image = save(Image.fromarray(rgb), d / "scene.png")
        return image, make_label(d)
    return make


def _label_ids(d: Path) -> Path:
    label = synthetic_pair(seed=3)[1].copy()
    label[:4, :4] = 11  # SegNet void
    return save(Image.fromarray(label, "L"), d / "label_ids.png")


def _label_colours(d: Path) -> Path:
    label = synthetic_pair(seed=3)[1]
    return save(Image.fromarray(np.asarray(PALETTE, np.uint8)[label]), d / "label_colours.png")


def _label_wrong_size(d: Path) -> Path:
    return save(Image.new("L", (64, 48)), d / "label_64x48.png")


def _label_out_of_range(d: Path) -> Path:
    return save(Image.new("L", GOOD_SIZE, 50), d / "label_ids_50.png")


def _label_few_out_of_range(d: Path) -> Path:
    label = synthetic_pair(seed=3)[1].copy()
    label[0, :60] = 200  # 60 of 12288 pixels = 0.5% < the 1% tolerance
    return save(Image.fromarray(label, "L"), d / "label_few_200.png")


def _label_bad_colours(d: Path) -> Path:
    return save(Image.new("RGB", GOOD_SIZE, (1, 2, 3)), d / "label_colours_bad.png")


def _label_text(d: Path) -> Path:
    (d / "label_text.png").write_text("class ids: 0 1 2")
    return d / "label_text.png"


def _label_empty(d: Path) -> Path:
    (d / "label_empty.png").write_bytes(b"")
    return d / "label_empty.png"


def _label_float(d: Path) -> Path:
    return save(Image.fromarray(np.ones((96, 128), np.float32), "F"), d / "label_float.tiff")


def _label_truncated(d: Path) -> Path:
    buf = io.BytesIO()
    Image.fromarray(synthetic_pair(seed=3)[1], "L").save(buf, "PNG")
    (d / "label_cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return d / "label_cut.png"


def _good(w: int = 128, h: int = 96) -> Check:
    return _size_is((w, h))


INPUT_CASES: list[InputCase] = [
    # --- not an image / broken files
    InputCase("empty file", "error: empty", _empty, error=r"is empty \(0 bytes\)"),
    InputCase("truncated PNG", "error: truncated", _truncated("PNG", ".png", 0.6), error=r"truncated or corrupt"),
    InputCase("truncated JPEG", "error: truncated", _truncated("JPEG", ".jpg", 0.5), error=r"truncated or corrupt"),
    InputCase("text renamed .png", "error: not an image", _text_file("notes.png", "just some text\n" * 20),
              error=r"not a readable image"),
    InputCase("HTML renamed .jpg", "error: not an image", _text_file("page.jpg", HTML), error=r"not a readable image"),
    InputCase("SVG renamed .png", "error: not an image", _text_file("vector.png", SVG), error=r"not a readable image"),
    InputCase(".svg upload", "error: file type", _text_file("vector.svg", SVG), error=r"Invalid file type"),
    InputCase(".txt upload", "error: file type", _text_file("readme.txt", "hello"), error=r"Invalid file type"),
    InputCase("PNG named .jpg", "works 128x96", _renamed("PNG", ".jpg"), check=_good()),
    InputCase("JPEG named .png", "works 128x96", _renamed("JPEG", ".png"), check=_good()),
    # --- sizes
    InputCase("decompression bomb 20000x20000", "error: bomb limit", _zero_png(20000, 20000),
              error=r"decompression-bomb"),
    InputCase("12000x12000 PNG (144 MP)", "error: bomb limit", _zero_png(12000, 12000), error=r"decompression-bomb"),
    InputCase("1x1 image", "error: too small", _sized(1, 1), error=r"is 1x1 pixels; at least 16x16"),
    InputCase("1x5000 image", "error: too small", _sized(1, 5000), error=r"is 1x5000 pixels"),
    InputCase("3000x2000 JPEG", "works, downscaled to 1024x683", _large_jpeg,
              check=_all(_summary_has("Analysed **1024×683**"), _summary_has("downscaled to 1024x683")), slow=True),
    # --- modes and containers that should work
    InputCase("16-bit grey PNG", "works, ramp scaled to 8 bit", _sixteen_bit,
              check=_all(_good(), _check_sixteen_bit, _summary_has("8-bit"))),
    InputCase("CMYK JPEG", f"works, colour ~{CMYK_RGB}", _cmyk, check=_all(_good(), _mean_colour(CMYK_RGB, 12))),
    InputCase("palette PNG", "works, exact colours", _palette_image(False), check=_check_quadrants(QUADS[0])),
    InputCase("palette PNG + tRNS", "works, transparent -> white", _palette_image(True),
              check=_check_quadrants((255, 255, 255))),
    InputCase("RGBA 50% alpha", "works, flattened on white", _rgba, check=_mean_colour((127, 127, 255), 2)),
    InputCase("EXIF orientation 6 JPEG", "works, rotated to 96x128", _exif_rotated,
              check=_all(_size_is((96, 128)), _mean_colour((230, 20, 20), 25, (slice(0, 56), slice(None))),
                         _mean_colour((20, 20, 230), 25, (slice(72, None), slice(None))))),
    InputCase("animated GIF (3 frames)", "works, first frame (red)", _animated("GIF", ".gif"),
              check=_all(_good(), _mean_colour((255, 0, 0), 2), _summary_has("more than one frame"))),
    InputCase("animated GIF renamed .png", "works, first frame (red)", lambda d: _rename(_animated("GIF", ".gif"), d,
                                                                                        "animated_gif.png"),
              check=_all(_good(), _mean_colour((255, 0, 0), 2), _summary_has("more than one frame"))),
    InputCase("APNG (3 frames)", "works, first frame (red)", _animated("PNG", ".png"),
              check=_all(_good(), _mean_colour((255, 0, 0), 2), _summary_has("more than one frame"))),
    InputCase("multi-page TIFF", "works, first page (red)", _multipage_tiff,
              check=_all(_good(), _mean_colour((255, 0, 0), 2))),
    InputCase("float TIFF with NaN/inf", "works, NaN -> black", _float_tiff(False),
              check=_all(_good(), _check_float_nan)),
    InputCase("float TIFF all NaN", "error: no finite values", _float_tiff(True), error=r"no finite values"),
    InputCase("int32 TIFF, negative", "works, rescaled", _int32_tiff, check=_all(_good(), _check_int32)),
    InputCase("greyscale PNG", "works", _format("PNG", ".png", "L"), check=_good()),
    InputCase("WebP", "works", _format("WEBP", ".webp"), check=_good()),
    InputCase("BMP", "works", _format("BMP", ".bmp"), check=_good()),
    InputCase("no image", "error: no image", _nothing, error=r"Upload an image"),
    # --- labels
    InputCase("label: class ids", "works, IoU table", _with_label(_label_ids), check=_all(_good(), _iou_rows)),
    InputCase("label: palette colours", "works, IoU table", _with_label(_label_colours), check=_iou_rows),
    InputCase("label: wrong size", "error: size mismatch", _with_label(_label_wrong_size),
              error=r"is 64x48 pixels but the image is 128x96"),
    InputCase("label: ids out of range", "error: ids outside 0..10", _with_label(_label_out_of_range),
              error=r"values outside 0\.\.10"),
    InputCase("label: 0.5% unknown ids", "works, warning", _with_label(_label_few_out_of_range),
              check=_all(_iou_rows, _summary_has("unknown ids"))),
    InputCase("label: colours not in palette", "error: colours", _with_label(_label_bad_colours),
              error=r"not in the model's palette, e\.g\. \(1, 2, 3\)"),
    InputCase("label: text renamed .png", "error: not an image", _with_label(_label_text),
              error=r"label 'label_text\.png' is not a readable image"),
    InputCase("label: empty file", "error: empty", _with_label(_label_empty),
              error=r"label 'label_empty\.png' is empty"),
    InputCase("label: truncated PNG", "error: truncated", _with_label(_label_truncated), error=r"truncated or corrupt"),
    InputCase("label: float TIFF", "error: float label", _with_label(_label_float), error=r"float image"),
    # --- parameters a browser cannot send but an API client can
    InputCase("alpha = 7", "error: out of range, naming the argument", lambda d: (good_png(d), None),
              error=r"opacity \(alpha\) must be between 0 and 1, got 7", alpha=7),
    InputCase("channel = 10**6", "error: out of range, naming the argument", lambda d: (good_png(d), None),
              error=r"mask channel must be between 0 and \d+, got 1000000", channel=10**6),
    InputCase("alpha = 'abc'", "error naming the argument", lambda d: (good_png(d), None),
              error=r"opacity \(alpha\) must be a number between 0 and 1, got 'abc'", alpha="abc"),
    InputCase("alpha = None", "works with the default opacity", lambda d: (good_png(d), None), check=_good(),
              alpha=None),
    # gradio's FileData validation refuses a bare string before any handler runs; the server then answers
    # with its generic error event (show_error is off), which the client reports as "upstream ... exception"
    InputCase("image = '/etc/passwd' string", "refused by the server's FileData validation, not read",
              _raw_path("/etc/passwd"), error=r"upstream Gradio app has raised an exception"),
]
