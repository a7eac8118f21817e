"""Reliability and security cases, shared by `python -m benchmarks.reliability` and tests/reliability/.

Every case is run against the real thing (the Gradio server through gradio_client, `gald.load_checkpoint`,
`python -m gald.train` subprocesses, `python app.py` subprocesses) and reduced to a `Result`: what was
tried, what was expected, what was observed, and whether that is acceptable. The report prints them as
a table; the tests assert `ok` case by case. Nothing here edits the app or the library.

Groups: inputs (malformed uploads and parameters through `/analyze`), hygiene (paths, upload limit,
share links), checkpoints (unsafe / corrupt files), source (no unsafe `torch.load`), data (bad samples
through the training CLI and `on_error="skip"`), training (kill -9 + `--resume`, NaN stop), load
(concurrent clients, bounded queue, resident memory, memory slope).
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import pickle
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python benchmarks/reliability.py` and pytest from anywhere
    sys.path.insert(0, str(REPO))

from gald.data.constants import CAMVID_CLASSES, CAMVID_PALETTE  # noqa: E402

PYTHON = sys.executable
NORMALIZATION = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
PALETTE = [list(c) for c in CAMVID_PALETTE]
GOOD_SIZE = (128, 96)  # (width, height) of the images that should work
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+")


# Case name -> reason, for failures that are known app/library bugs (reported, not fixed here). The report
# shows them as KNOWN BUG; the tests mark them xfail(strict=True), so a fix makes the test say so.
KNOWN_BUGS: dict[str, str] = {}


@dataclass
class Result:
    """One row of the report: `ok` is True when the observed behaviour is the expected one."""

    group: str
    case: str
    expected: str
    observed: str
    ok: bool
    seconds: float = 0.0
    xfail: str | None = None  # a known, reported bug: the reason (the row still shows ok=False)

    def row(self) -> dict[str, Any]:
        return asdict(self)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_checkpoint(path: str | os.PathLike, *, num_classes: int = 11, mid_channels: int = 32, seed: int = 0) -> Path:
    """A tiny random GALDNet checkpoint with CamVid metadata (no trained weights needed for reliability)."""
    import torch

    import gald

    torch.manual_seed(seed)
    model = gald.build_model(num_classes=num_classes, mid_channels=mid_channels).eval()
    meta = {"class_names": CAMVID_CLASSES[:num_classes], "palette": PALETTE[:num_classes],
            "normalization": NORMALIZATION, "inference": {"scale": 1.0}}
    gald.save_checkpoint(path, model, meta)
    return Path(path)


# =====================================================================================================
# Image builders
# =====================================================================================================
def synthetic_pair(size: tuple[int, int] = GOOD_SIZE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 image of palette-coloured rectangles with noise, and its (H, W) class ids."""
    w, h = size
    rng = np.random.default_rng(seed)
    label = np.full((h, w), rng.integers(0, 11), np.uint8)
    for _ in range(5):
        y, x = int(rng.integers(0, max(h - 8, 1))), int(rng.integers(0, max(w - 8, 1)))
        dy, dx = int(rng.integers(6, max(h // 2, 7))), int(rng.integers(6, max(w // 2, 7)))
        label[y:y + dy, x:x + dx] = rng.integers(0, 11)
    image = np.asarray(PALETTE, np.int16)[label] + rng.integers(-12, 13, (h, w, 3))
    return np.clip(image, 0, 255).astype(np.uint8), label


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def write_zero_png(path: Path, width: int, height: int) -> Path:
    """A valid, all-black 1-bit PNG of any size, built row by row: a real decompression bomb is a few KB."""
    row = b"\x00" * (1 + (width + 7) // 8)
    comp = zlib.compressobj(6)
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", body)
                     + _png_chunk(b"IEND", b""))
    return path


def _save(img: Image.Image, path: Path, fmt: str | None = None, **kwargs: Any) -> Path:
    img.save(path, fmt, **kwargs)
    return path


def _good_png(d: Path, name: str = "good.png", size: tuple[int, int] = GOOD_SIZE, seed: int = 0) -> Path:
    return _save(Image.fromarray(synthetic_pair(size, seed)[0]), d / name)


def _encoded(fmt: str, size: tuple[int, int] = GOOD_SIZE, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(synthetic_pair(size)[0]).save(buf, fmt, **kwargs)
    return buf.getvalue()


def _solid(colour: tuple[int, int, int], size: tuple[int, int] = GOOD_SIZE) -> Image.Image:
    return Image.new("RGB", size, colour)


# =====================================================================================================
# Inputs: malformed uploads through the real server
# =====================================================================================================
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
def _empty(d: Path) -> Made:
    (d / "empty.png").write_bytes(b"")
    return d / "empty.png", None


def _truncated(fmt: str, suffix: str, keep: float) -> Callable[[Path], Made]:
    def make(d: Path) -> Made:
        data = _encoded(fmt)
        p = d / f"truncated{suffix}"
        p.write_bytes(data[: int(len(data) * keep)])
        return p, None
    return make


def _renamed(fmt: str, suffix: str) -> Callable[[Path], Made]:
    def make(d: Path) -> Made:
        p = d / f"{fmt.lower()}_renamed{suffix}"
        p.write_bytes(_encoded(fmt, quality=95) if fmt == "JPEG" else _encoded(fmt))
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
        return _save(Image.new("RGB", (w, h), (90, 120, 30)), d / f"size_{w}x{h}.png"), None
    return make


def _large_jpeg(d: Path) -> Made:
    w, h = 3000, 2000
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None, None]
    rgb = np.concatenate([np.broadcast_to(x, (h, w, 1)), np.broadcast_to(y, (h, w, 1)),
                          np.full((h, w, 1), 80, np.float32)], axis=2).astype(np.uint8)
    return _save(Image.fromarray(rgb), d / "large_3000x2000.jpg", "JPEG", quality=85), None


RAMP16 = (np.arange(128, dtype=np.int64) * 512)[None, :].repeat(96, 0)  # 0 .. 65024


def _sixteen_bit(d: Path) -> Made:
    return _save(Image.fromarray(RAMP16.astype(np.uint16)), d / "grey16.png"), None


def _check_sixteen_bit(out: dict[str, Any]) -> str | None:
    got = _img(out)[..., 0]
    want = np.rint(RAMP16 * 255.0 / 65535.0)
    err = float(np.abs(got - want).max())
    return None if err <= 1 else f"16-bit ramp mis-scaled: max error {err:.0f} grey levels"


CMYK_RGB = (200, 60, 40)


def _cmyk(d: Path) -> Made:
    return _save(_solid(CMYK_RGB).convert("CMYK"), d / "cmyk.jpg", "JPEG", quality=95), None


QUADS = [(255, 0, 0), (0, 200, 0), (0, 0, 255), (250, 220, 0)]


def _palette_image(transparent: bool) -> Callable[[Path], Made]:
    def make(d: Path) -> Made:
        idx = np.zeros((96, 128), np.uint8)
        idx[:48, 64:], idx[48:, :64], idx[48:, 64:] = 1, 2, 3
        img = Image.fromarray(idx, "P")
        img.putpalette([v for c in QUADS for v in c] + [0, 0, 0] * 252)
        name = "palette_trns.png" if transparent else "palette.png"
        return (_save(img, d / name, transparency=0) if transparent else _save(img, d / name)), None
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
    return _save(Image.fromarray(rgb), d / "exif_rot6.jpg", "JPEG", quality=95, exif=exif.tobytes()), None


def _animated(fmt: str, suffix: str) -> Callable[[Path], Made]:
    def make(d: Path) -> Made:
        frames = [_solid(c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
        p = d / f"animated{suffix}"
        frames[0].save(p, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
        return p, None
    return make


def _multipage_tiff(d: Path) -> Made:
    pages = [_solid((255, 0, 0)), _solid((0, 0, 255))]
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
        return _save(Image.fromarray(arr, "F"), d / ("all_nan.tiff" if all_nan else "float_nan.tiff")), None
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
    return _save(Image.fromarray(arr, "I"), d / "int32_negative.tiff"), None


def _check_int32(out: dict[str, Any]) -> str | None:
    row = _img(out)[48, :, 0]
    ok = row[0] == 0 and row[-1] == 255 and bool(np.all(np.diff(row) >= 0))
    return None if ok else f"int32 ramp not rescaled to 0..255 monotonically (first {row[0]}, last {row[-1]})"


def _format(fmt: str, suffix: str, mode: str = "RGB") -> Callable[[Path], Made]:
    def make(d: Path) -> Made:
        img = Image.fromarray(synthetic_pair()[0]).convert(mode)
        return _save(img, d / f"{fmt.lower()}_{mode}{suffix}", fmt), None
    return make


def _rgba(d: Path) -> Made:
    return _save(Image.new("RGBA", GOOD_SIZE, (0, 0, 255, 128)), d / "rgba_half.png"), None


def _nothing(d: Path) -> Made:
    return None, None


def _raw_path(path: str) -> Callable[[Path], Made]:
    def make(d: Path) -> Made:
        return path, None
    return make


def _with_label(make_label: Callable[[Path], Path | None]) -> Callable[[Path], Made]:
    def make(d: Path) -> Made:
        rgb, _ = synthetic_pair(seed=3)
        image = _save(Image.fromarray(rgb), d / "scene.png")
        return image, make_label(d)
    return make


def _label_ids(d: Path) -> Path:
    label = synthetic_pair(seed=3)[1].copy()
    label[:4, :4] = 11  # SegNet void
    return _save(Image.fromarray(label, "L"), d / "label_ids.png")


def _label_colours(d: Path) -> Path:
    label = synthetic_pair(seed=3)[1]
    return _save(Image.fromarray(np.asarray(PALETTE, np.uint8)[label]), d / "label_colours.png")


def _label_wrong_size(d: Path) -> Path:
    return _save(Image.new("L", (64, 48)), d / "label_64x48.png")


def _label_out_of_range(d: Path) -> Path:
    return _save(Image.new("L", GOOD_SIZE, 50), d / "label_ids_50.png")


def _label_few_out_of_range(d: Path) -> Path:
    label = synthetic_pair(seed=3)[1].copy()
    label[0, :60] = 200  # 60 of 12288 pixels = 0.5% < the 1% tolerance
    return _save(Image.fromarray(label, "L"), d / "label_few_200.png")


def _label_bad_colours(d: Path) -> Path:
    return _save(Image.new("RGB", GOOD_SIZE, (1, 2, 3)), d / "label_colours_bad.png")


def _label_text(d: Path) -> Path:
    (d / "label_text.png").write_text("class ids: 0 1 2")
    return d / "label_text.png"


def _label_empty(d: Path) -> Path:
    (d / "label_empty.png").write_bytes(b"")
    return d / "label_empty.png"


def _label_float(d: Path) -> Path:
    return _save(Image.fromarray(np.ones((96, 128), np.float32), "F"), d / "label_float.tiff")


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
              check=_all(_good(), _mean_colour((255, 0, 0), 2), _summary_has("frames"))),
    InputCase("animated GIF renamed .png", "works, first frame (red)", lambda d: _rename(_animated("GIF", ".gif"), d,
                                                                                        "animated_gif.png"),
              check=_all(_good(), _mean_colour((255, 0, 0), 2), _summary_has("frames"))),
    InputCase("APNG (3 frames)", "works, first frame (red)", _animated("PNG", ".png"),
              check=_all(_good(), _mean_colour((255, 0, 0), 2), _summary_has("frames"))),
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
    InputCase("alpha = 7", "error: out of range, naming the argument", lambda d: (_good_png(d), None),
              error=r"opacity \(alpha\) must be between 0 and 1, got 7", alpha=7),
    InputCase("channel = 10**6", "error: out of range, naming the argument", lambda d: (_good_png(d), None),
              error=r"mask channel must be between 0 and \d+, got 1000000", channel=10**6),
    InputCase("alpha = 'abc'", "error naming the argument", lambda d: (_good_png(d), None),
              error=r"opacity \(alpha\) must be a number between 0 and 1, got 'abc'", alpha="abc"),
    InputCase("alpha = None", "works with the default opacity", lambda d: (_good_png(d), None), check=_good(),
              alpha=None),
    # gradio's FileData validation refuses a bare string before any handler runs; the server then answers
    # with its generic error event (show_error is off), which the client reports as "upstream ... exception"
    InputCase("image = '/etc/passwd' string", "refused by the server's FileData validation, not read",
              _raw_path("/etc/passwd"), error=r"upstream Gradio app has raised an exception"),
]


def _rename(make: Callable[[Path], Made], d: Path, name: str) -> Made:
    path, label = make(d)
    return path.rename(d / name), label


# --- the client side -----------------------------------------------------------------------------------
class AppClient:
    """gradio_client against `/analyze`, with outputs named by their component labels (robust to reordering)."""

    NAMES = [("Image", r"^Input$", "input"), ("Image", r"GALD", "gald"), ("Image", r"^Ground truth", "gt"),
             ("Dataframe", r"IoU", "iou"), ("Downloadbutton", r"[Pp]rediction", "pred_png")]

    def __init__(self, url: str, download_dir: str | os.PathLike | bool) -> None:
        from gradio_client import Client

        self.url = url
        self.client = Client(url, verbose=False, download_files=download_dir if download_dir else False,
                             analytics_enabled=False)
        api = self.client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/analyze"]
        self.returns = [r["label"] for r in api["returns"]]
        self.components = [r["component"] for r in api["returns"]]

    def analyze(self, image: Any, label: Any = None, alpha: Any = 0.6, channel: Any = 0) -> dict[str, Any]:
        from gradio_client import handle_file

        def arg(x: Any) -> Any:
            return handle_file(str(x)) if isinstance(x, Path) else x

        out = self.client.predict(arg(image), arg(label), alpha, channel, api_name="/analyze")
        named: dict[str, Any] = {}
        for value, lab, comp in zip(out, self.returns, self.components, strict=True):
            if comp == "Markdown" and "summary" not in named:
                named["summary"] = value
            for component, pattern, name in self.NAMES:
                if comp == component and name not in named and re.search(pattern, str(lab)):
                    named[name] = value
        return named


def _short(text: str, n: int = 90) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def run_input_case(app: AppClient, case: InputCase, workdir: Path, good: Path) -> Result:
    """Run one case; after a refused one, a good request: the server must answer it (a bad input must not
    wedge it). After a case that works, its own answer shows the server is alive."""
    d = workdir / re.sub(r"[^A-Za-z0-9]+", "_", case.name).strip("_")
    d.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    image, label = case.make(d)
    problem, observed = None, ""
    try:
        out = app.analyze(image, label, case.alpha, case.channel)
    except Exception as exc:  # AppError (server said no) or ValueError (client refused before upload)
        message = str(exc)
        observed = f"error: {_short(message)}"
        if case.error is None:
            problem = "failed"
        elif not re.search(case.error, message):
            problem = f"message does not match /{case.error}/"
        elif TRACEBACK.search(message):
            problem = "stack trace shown to the user"
    else:
        if case.error is not None:
            observed, problem = "accepted (no error)", "expected an error"
        else:
            try:
                problem = case.check(out) if case.check else None
            except Exception as exc:  # a missing output is a failure of the case, not of the report
                problem = f"check crashed: {type(exc).__name__}: {exc}"
            observed = "works" + (f" ({_short(str(out.get('summary', '')).split(chr(10))[0], 60)})"
                                  if problem is None else "")
    seconds = time.perf_counter() - t0
    if observed.startswith("error"):
        try:  # the server must still serve
            after = app.analyze(good)
            alive = "Analysed" in str(after.get("summary", ""))
        except Exception as exc:
            alive = False
            observed += f"; then good request failed: {_short(str(exc), 60)}"
        if not alive:
            problem = problem or "server did not answer a good request afterwards"
    if problem:
        observed = f"{observed} [{problem}]"
    return Result("inputs", case.name, case.expected, observed, problem is None, seconds)


@contextlib.contextmanager
def serve_inprocess(checkpoint: Path) -> Iterator[tuple[Any, str]]:
    """(demo, url): the real app (build_demo + launch_options) served in this process on 127.0.0.1."""
    from app.inference import Predictor
    from app.ui import build_demo, launch_options

    demo = build_demo(Predictor.from_checkpoint(checkpoint))
    port = free_port()
    try:
        demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                    **launch_options())
        yield demo, f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def input_results(url: str, workdir: Path, cases: list[InputCase] | None = None) -> list[Result]:
    app = AppClient(url, workdir / "downloads")
    good = _good_png(workdir, "alive_48x32.png", (48, 32), seed=7)
    return [run_input_case(app, c, workdir, good) for c in (cases if cases is not None else INPUT_CASES)]


# =====================================================================================================
# Server hygiene
# =====================================================================================================
def _raw_call(url: str, data: list[Any], timeout: float = 60) -> tuple[str, str]:
    """POST /gradio_api/call/analyze without gradio_client (which would upload a local path itself)."""
    import httpx

    base = url.rstrip("/") + "/gradio_api"
    r = httpx.post(f"{base}/call/analyze", json={"data": data}, timeout=timeout)
    r.raise_for_status()
    event = r.json()["event_id"]
    with httpx.stream("GET", f"{base}/call/analyze/{event}", timeout=timeout) as s:
        text = "".join(s.iter_text())
    kind = re.search(r"event: (\w+)", text)
    return (kind.group(1) if kind else "?"), text


def hygiene_results(url: str, workdir: Path, checkpoint: Path, demo: Any = None) -> list[Result]:
    """File access, upload size limit and launch settings of the running app."""
    import httpx

    from app import ui

    results: list[Result] = []
    base = url.rstrip("/") + "/gradio_api"

    def add(case: str, expected: str, observed: str, ok: bool) -> None:
        results.append(Result("hygiene", case, expected, observed, ok))

    # 1. a path to a server file (outside the upload cache), posted as FileData without uploading it. The
    # client sees only an error event (show_error is off), so the reason is read where it is decided: a spy
    # on gradio's path check records its InvalidPathError ("... was not uploaded by a user"). The control: the
    # same call with a path that /upload returned must analyse the image.
    workdir.mkdir(parents=True, exist_ok=True)
    secret = workdir / "server_secret.png"
    Image.fromarray(synthetic_pair(seed=11)[0]).save(secret)
    from gradio.utils import get_upload_folder

    upload = Path(get_upload_folder())
    traversal = str(upload.joinpath(*[".."] * (len(upload.parts) - 1), *secret.resolve().parts[1:]))
    with _path_check_spy() as refusals:
        for name, path in (("server PNG outside cache", str(secret)), ("/etc/passwd", "/etc/passwd"),
                           ("cache dir/../..: traversal", traversal), ("repo example PNG", str(_an_example()))):
            refusals.clear()
            kind, text = _raw_call(url, [{"path": path, "meta": {"_type": "gradio.FileData"}}, None, 0.6, 0])
            reason = next((r for r in refusals if "not uploaded by a user" in r or "not allowed" in r), None)
            ok = kind == "error" and "Analysed" not in text and reason is not None
            add(f"analyze(FileData path={name})", "refused by gradio's path check (not uploaded by a user)",
                f"event: {kind}; {_short(reason or 'no InvalidPathError raised', 60)}", ok)
        refusals.clear()
        r = httpx.post(f"{base}/upload", files={"files": ("control.png", secret.read_bytes(), "image/png")},
                       timeout=60)
        uploaded = r.json()[0] if r.status_code == 200 else None
        kind, text = _raw_call(url, [{"path": uploaded, "meta": {"_type": "gradio.FileData"}}, None, 0.6, 0])
        add("control: analyze(FileData path returned by /upload)", "analysed through the same call",
            f"event: {kind} {_short(text, 50)}", kind == "complete" and "Analysed" in text and not refusals)
    # 2. file route: nothing outside allowed_paths / the upload cache is served
    for name, path in (("checkpoint", str(checkpoint.with_suffix(".safetensors"))), ("app.py", str(REPO / "app.py")),
                       ("relative app.py", "app.py"), ("/etc/passwd", "/etc/passwd")):
        code = httpx.get(f"{base}/file={path}", timeout=30).status_code
        add(f"GET /file={name}", "403/404", f"HTTP {code}", code in (403, 404))
    # 3. upload size limit enforced by the server (the client checks too, so bypass it)
    limit = _parse_size(ui.MAX_FILE_SIZE)
    blob = b"\x89PNG\r\n\x1a\n" + bytes(limit + 1024)
    r = httpx.post(f"{base}/upload", files={"files": ("big.png", blob, "image/png")}, timeout=120)
    add(f"upload {len(blob) / 2**20:.1f} MB (limit {ui.MAX_FILE_SIZE})", "HTTP 413", f"HTTP {r.status_code}",
        r.status_code == 413)
    # 4. launch settings
    opts = ui.launch_options()
    add("launch_options share", "False", repr(opts.get("share")), opts.get("share") is False)
    allowed = [Path(p).resolve() for p in opts.get("allowed_paths", [])]
    examples = (REPO / "app" / "examples").resolve()
    add("launch_options allowed_paths", "only app/examples", str([str(p.relative_to(REPO)) for p in allowed]),
        all(p == examples or examples in p.parents for p in allowed))
    add("launch_options max_file_size", "set", repr(opts.get("max_file_size")), bool(opts.get("max_file_size")))
    launch_calls = _launch_kwargs(REPO / "app.py")
    bad = [c for c in launch_calls if re.search(r"share\s*=\s*True|allowed_paths|blocked_paths", c)]
    add("app.py launch(...)", "no share=True, no extra paths", _short("; ".join(launch_calls) or "no launch call", 80),
        bool(launch_calls) and not bad)
    if demo is not None:
        add("gr.Blocks delete_cache", "set (gradio's cache is otherwise kept forever)", repr(demo.delete_cache),
            bool(demo.delete_cache))
        add("queue max_size", "set (bounded queue)", repr(demo._queue.max_size), bool(demo._queue.max_size))
    cfg = httpx.get(url.rstrip("/") + "/config", timeout=30).json()
    add("served config share_url", "none", repr(cfg.get("share_url")), not cfg.get("share_url"))
    return results


@contextlib.contextmanager
def _path_check_spy() -> Iterator[list[str]]:
    """Record the messages of the InvalidPathErrors that gradio's file-path check raises (in-process server)."""
    from gradio import processing_utils

    original = processing_utils._check_allowed
    seen: list[str] = []

    def spy(*args, **kwargs):
        try:
            return original(*args, **kwargs)
        except Exception as exc:
            seen.append(f"{type(exc).__name__}: {exc}")
            raise

    processing_utils._check_allowed = spy
    try:
        yield seen
    finally:
        processing_utils._check_allowed = original


def _an_example() -> Path:
    found = sorted((REPO / "app" / "examples").glob("*.png"))
    return found[0] if found else REPO / "app" / "examples" / "missing.png"


def _parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]?b)\s*", text.lower())
    if not m:
        raise ValueError(f"cannot parse size {text!r}")
    return int(float(m.group(1)) * {"b": 1, "kb": 2**10, "mb": 2**20, "gb": 2**30}[m.group(2)])


def _launch_kwargs(path: Path) -> list[str]:
    """Source text of every `.launch(...)` call in a file."""
    tree = ast.parse(path.read_text())
    return [ast.unparse(n) for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "launch"]


# =====================================================================================================
# Checkpoints
# =====================================================================================================
class _Payload:
    """Unpickling this creates `marker`: if the file exists afterwards, code from a checkpoint ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _edit_meta(fn: Callable[[dict], None]) -> Callable[[Path, Path, str], None]:
    def corrupt(weights: Path, meta: Path, marker: str) -> None:
        data = json.loads(meta.read_text())
        fn(data)
        meta.write_text(json.dumps(data))
    return corrupt


def _set_config(**kw: Any) -> Callable[[dict], None]:
    return lambda m: m["config"].update(kw)


def _pickle_weights(protocol: int) -> Callable[[Path, Path, str], None]:
    def corrupt(weights: Path, meta: Path, marker: str) -> None:
        weights.write_bytes(pickle.dumps({"state_dict": _Payload(marker)}, protocol=protocol))
    return corrupt


def _torch_save_weights(weights: Path, meta: Path, marker: str) -> None:
    import torch

    torch.save({"state_dict": _Payload(marker)}, weights)


def _truncate(keep: float | int) -> Callable[[Path, Path, str], None]:
    def corrupt(weights: Path, meta: Path, marker: str) -> None:
        data = weights.read_bytes()
        weights.write_bytes(data[: keep if isinstance(keep, int) else int(len(data) * keep)])
    return corrupt


def _header(length: int, body: bytes = b"{}") -> Callable[[Path, Path, str], None]:
    def corrupt(weights: Path, meta: Path, marker: str) -> None:
        weights.write_bytes(struct.pack("<Q", length) + body)
    return corrupt


def _bad_offsets(weights: Path, meta: Path, marker: str) -> None:
    data = weights.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    key = next(k for k in header if k != "__metadata__")
    header[key]["data_offsets"][1] += 10**9  # points far past the end of the file
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    weights.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + n:])


def _pickled_meta(weights: Path, meta: Path, marker: str) -> None:
    meta.write_bytes(pickle.dumps(_Payload(marker)))


def _huge_meta(weights: Path, meta: Path, marker: str) -> None:
    data = json.loads(meta.read_text())
    data["padding"] = "x" * (11 * 2**20)
    meta.write_text(json.dumps(data))


@dataclass
class CheckpointCase:
    name: str
    corrupt: Callable[[Path, Path, str], None] | None
    error: str | None  # regex of the CheckpointError message; None: must load


CHECKPOINT_CASES: list[CheckpointCase] = [
    CheckpointCase("valid checkpoint (control)", None, None),
    CheckpointCase("pickle payload (protocol 4) as .safetensors", _pickle_weights(4), r"pickle"),
    CheckpointCase("pickle payload (protocol 0, text)", _pickle_weights(0), r"not a valid safetensors|pickle"),
    CheckpointCase("torch.save zip payload as .safetensors", _torch_save_weights, r"pickle"),
    CheckpointCase("pickle payload as metadata .json", _pickled_meta, r"not valid JSON"),
    CheckpointCase("safetensors truncated to 50%", _truncate(0.5), r"safetensors|could not read"),
    CheckpointCase("safetensors truncated to 5 bytes", _truncate(5), r"truncated"),
    CheckpointCase("huge header length (2**40)", _header(2**40), r"not a valid safetensors"),
    CheckpointCase("header length 50 MB, file 10 bytes", _header(50 * 2**20), r"not a valid safetensors"),
    CheckpointCase("header not JSON", _header(8, b"{garbage"), r"could not read|not a valid"),
    CheckpointCase("tensor offsets past end of file", _bad_offsets, r"could not read|not a valid"),
    CheckpointCase("metadata: 5 class names, 11 classes", _edit_meta(lambda m: m.update(class_names=list("abcde"))),
                   r"5 class names but the config says num_classes=11"),
    CheckpointCase("metadata: num_classes 5 vs 11 in weights",
                   _edit_meta(lambda m: (m["config"].update(num_classes=5), m.update(class_names=list("abcde")))),
                   r"wrong class count"),
    CheckpointCase("metadata: unknown backbone", _edit_meta(_set_config(backbone="resnet9000")),
                   r"unknown backbone 'resnet9000'; valid: \["),
    CheckpointCase("metadata: unknown arrangement", _edit_meta(_set_config(arrangement="transformer")),
                   r"unknown arrangement 'transformer'; valid:"),
    CheckpointCase("metadata: unknown config key", _edit_meta(_set_config(evil="__import__('os')")),
                   r"unknown GALDConfig keys \['evil'\]"),
    CheckpointCase("metadata: mid_channels 64 vs 32 in weights", _edit_meta(_set_config(mid_channels=64)),
                   r"does not match its architecture"),
    CheckpointCase("metadata: format_version 99", _edit_meta(lambda m: m.update(format_version=99)),
                   r"upgrade gald"),
    CheckpointCase("metadata: no format marker", _edit_meta(lambda m: m.pop("format")), r"not a GALD checkpoint"),
    CheckpointCase("metadata: 11 MB", _huge_meta, r"larger than"),
    CheckpointCase("metadata: config is a list", _edit_meta(lambda m: m.update(config=["resnet18"])),
                   r"invalid architecture config"),
    CheckpointCase("weights file missing", lambda w, m, k: w.unlink(), r"weights not found"),
]


def run_checkpoint_case(case: CheckpointCase, workdir: Path) -> Result:
    import gald

    d = workdir / re.sub(r"[^A-Za-z0-9]+", "_", case.name).strip("_")
    d.mkdir(parents=True, exist_ok=True)
    marker = d / "PAYLOAD_RAN"
    t0 = time.perf_counter()
    make_checkpoint(d / "ck")
    if case.corrupt is not None:
        case.corrupt(d / "ck.safetensors", d / "ck.json", str(marker))
    expected = "loads" if case.error is None else "CheckpointError, nothing executed"
    try:
        gald.load_checkpoint(d / "ck")
    except gald.CheckpointError as exc:
        observed = f"CheckpointError: {_short(str(exc).replace(str(d), '<dir>'), 70)}"
        ok = case.error is not None and re.search(case.error, str(exc)) is not None
        if case.error is not None and not ok:
            observed += f" [message does not match /{case.error}/]"
    except Exception as exc:
        observed, ok = f"{type(exc).__name__} (not CheckpointError): {_short(str(exc), 60)}", False
    else:
        observed, ok = "loaded", case.error is None
    if marker.exists():
        observed, ok = observed + " [PAYLOAD EXECUTED]", False
    return Result("checkpoints", case.name, expected, observed, ok, time.perf_counter() - t0)


def checkpoint_results(workdir: Path) -> list[Result]:
    return [run_checkpoint_case(c, workdir) for c in CHECKPOINT_CASES]


def app_refuses_checkpoint(workdir: Path) -> Result:
    """`python app.py --checkpoint <pickle>` exits 2 with a message instead of a traceback or a server."""
    d = workdir / "app_pickle"
    d.mkdir(parents=True, exist_ok=True)
    marker = d / "PAYLOAD_RAN"
    make_checkpoint(d / "ck")
    _pickle_weights(4)(d / "ck.safetensors", d / "ck.json", str(marker))
    t0 = time.perf_counter()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(free_port()), "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.run([PYTHON, "app.py", "--checkpoint", str(d / "ck")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180)
    err = proc.stderr.strip().splitlines()
    ok = proc.returncode == 2 and "pickle" in proc.stderr and not TRACEBACK.search(proc.stderr) and not marker.exists()
    return Result("checkpoints", "app.py --checkpoint <pickle payload>", "exit 2, message, nothing executed",
                  f"exit {proc.returncode}: {_short(err[0] if err else '', 70)}"
                  + (" [PAYLOAD EXECUTED]" if marker.exists() else ""), ok, time.perf_counter() - t0)


# =====================================================================================================
# Source: unsafe deserialisation calls
# =====================================================================================================
SOURCE_ROOTS = ("gald", "app", "benchmarks", "app.py")


def unsafe_load_calls(root: Path = REPO, roots: tuple[str, ...] = SOURCE_ROOTS) -> list[str]:
    """`file:line: call` for every torch.load without weights_only=True, and every pickle.load(s) / np.load
    with allow_pickle=True, in the repository's runtime Python files (parsed, so comments do not count)."""
    files: list[Path] = []
    for r in roots:
        p = root / r
        files += [p] if p.is_file() else sorted(p.rglob("*.py"))
    problems = []
    for f in files:
        tree = ast.parse(f.read_text(encoding="utf-8"), filename=str(f))
        torch_load_names = {"torch.load"}
        for node in ast.walk(tree):  # `from torch import load [as x]`
            if isinstance(node, ast.ImportFrom) and node.module == "torch":
                torch_load_names |= {a.asname or a.name for a in node.names if a.name == "load"}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            kw = {k.arg: k.value for k in node.keywords if k.arg}
            is_true = {k: isinstance(v, ast.Constant) and v.value is True for k, v in kw.items()}
            bad = ((name in torch_load_names and not is_true.get("weights_only"))
                   or name in ("pickle.load", "pickle.loads", "cPickle.load", "dill.load")
                   or (name in ("np.load", "numpy.load") and "allow_pickle" in kw
                       and not (isinstance(kw["allow_pickle"], ast.Constant) and kw["allow_pickle"].value is False)))
            if bad:
                problems.append(f"{f.relative_to(root)}:{node.lineno}: {_short(ast.unparse(node), 100)}")
    return problems


def source_results() -> list[Result]:
    t0 = time.perf_counter()
    problems = unsafe_load_calls()
    n = sum(1 for r in SOURCE_ROOTS for _ in ([REPO / r] if (REPO / r).is_file() else (REPO / r).rglob("*.py")))
    return [Result("source", f"torch.load / pickle in {n} files", "all torch.load(weights_only=True), no pickle",
                   "; ".join(problems) or "none found", not problems, time.perf_counter() - t0)]


# =====================================================================================================
# Data: a dataset with bad files, end to end
# =====================================================================================================
def make_camvid(root: Path, n_train: int = 16, n_val: int = 4, size: tuple[int, int] = (80, 64),
                seed: int = 0) -> Path:
    """SegNet CamVid layout (train/, trainannot/, val/, valannot/) of coloured rectangles, (w, h) = size."""
    for split, n in (("train", n_train), ("val", n_val)):
        (root / split).mkdir(parents=True, exist_ok=True)
        (root / f"{split}annot").mkdir(parents=True, exist_ok=True)
        for i in range(n):
            rgb, label = synthetic_pair(size, seed=seed * 1000 + (0 if split == "train" else 500) + i)
            Image.fromarray(rgb).save(root / split / f"{split}_{i:03d}.png")
            Image.fromarray(label, "L").save(root / f"{split}annot" / f"{split}_{i:03d}.png")
    return root


def add_bad_samples(root: Path) -> tuple[Path, Path]:
    """A truncated image and a label of the wrong size in train/. Returns (bad image, bad label)."""
    rgb, label = synthetic_pair((80, 64), seed=99)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    bad_image = root / "train" / "train_corrupt.png"
    bad_image.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    Image.fromarray(label, "L").save(root / "trainannot" / "train_corrupt.png")
    Image.fromarray(rgb).save(root / "train" / "train_badlabel.png")
    bad_label = root / "trainannot" / "train_badlabel.png"
    Image.fromarray(label[:32, :40], "L").save(bad_label)
    return bad_image, bad_label


def config_accepts(key: str) -> bool:
    """Whether `--set key=...` is a valid override (model.mid_channels is not, in some versions)."""
    from gald.config_file import load_config

    try:
        load_config(None, [f"{key}=32"])
    except ValueError:
        return False
    return True


def train_args(data_root: Path, out: Path, iters: int, *, eval_every: int = 2, batch: int = 4,
               crop: int = 64, extra: tuple[str, ...] = ()) -> list[str]:
    spec = f"camvid:{data_root}"
    sets = [f"data.train={spec}", f"data.val={spec}", f"data.crop_size=[{crop},{crop}]", f"optim.batch_size={batch}",
            "data.workers=0", f"optim.iters={iters}", "train.save_every=1", "data.val_limit=2",
            f"train.eval_every={eval_every}", "train.log_every=1", *extra]
    if config_accepts("model.mid_channels"):
        sets.append("model.mid_channels=32")
    args = [a for s in sets for a in ("--set", s)]
    return args + ["--no-progress", "--device", "cpu", "--out", str(out)]


def _subprocess_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
            "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}


def data_results(workdir: Path) -> list[Result]:
    import warnings

    from gald.data import build_dataset

    root = make_camvid(workdir / "camvid_bad", n_train=4, n_val=2)
    bad_image, bad_label = add_bad_samples(root)
    results = []
    # 1. the training CLI stops with a message naming the file
    t0 = time.perf_counter()
    proc = subprocess.run([PYTHON, "-m", "gald.train", *train_args(root, workdir / "run_bad", 6, batch=2)],
                          cwd=REPO, env=_subprocess_env(), capture_output=True, text=True, timeout=300)
    tail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
    named = str(bad_image) in proc.stderr or str(bad_label) in proc.stderr
    spam = "traceback" if TRACEBACK.search(proc.stderr) else "no traceback"
    results.append(Result("data", "train CLI on folder with corrupt image + wrong-size label",
                          "exit != 0, message names the file",
                          f"exit {proc.returncode}, {spam}: {_short(tail.replace(str(root), '<root>'), 80)}",
                          proc.returncode != 0 and named, time.perf_counter() - t0))
    # 2. on_error="skip": both bad samples skipped with a warning each, counted
    t0 = time.perf_counter()
    ds = build_dataset(f"camvid:{root}", "train", on_error="skip")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = [ds[i] for i in range(len(ds))]
    messages = [str(w.message) for w in caught]
    named_both = any(str(bad_image) in m for m in messages) and any(str(bad_label) in m for m in messages)
    ok = ds.skipped == 2 and len(items) == len(ds) and named_both
    results.append(Result("data", 'build_dataset(on_error="skip") on the same folder',
                          "2 skipped with warnings naming them",
                          f"skipped={ds.skipped}, {len(items)}/{len(ds)} items, {len(messages)} warnings"
                          + ("" if named_both else " [files not named]"), ok, time.perf_counter() - t0))
    # 3. on_error="raise" (the default) names the file in the exception
    ds = build_dataset(f"camvid:{root}", "train")
    names = []
    for i in range(len(ds)):
        try:
            ds[i]
        except Exception as exc:
            names.append(f"{type(exc).__name__}: {exc}")
    named = [n for n in names if str(bad_image) in n or str(bad_label) in n]
    results.append(Result("data", 'build_dataset(on_error="raise"): each bad sample', "DatasetError naming the file",
                          _short("; ".join(n.replace(str(root), "<root>") for n in names), 90),
                          len(named) == 2 and all(n.startswith("DatasetError") for n in names)))
    return results


# =====================================================================================================
# Training: kill -9 and --resume, NaN stop
# =====================================================================================================
def _latest_step(run: Path) -> int:
    steps = [int(p.name.split("-")[1]) for p in run.glob("snapshot-*") if (p / "state.json").is_file()]
    return max(steps, default=0)


def _load_state(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(path))


def _checkpoints_loadable(run: Path) -> tuple[bool, str]:
    import gald

    notes = []
    for name in ("best", "last"):
        if (run / f"{name}.json").exists() or (run / f"{name}.safetensors").exists():
            try:
                gald.load_checkpoint(run / name)
                notes.append(f"{name} ok")
            except Exception as exc:
                return False, f"{name} BROKEN: {_short(str(exc), 80)}"
    return True, ", ".join(notes) or "none yet"


def crash_resume(workdir: Path, *, iters: int = 8, kills: int = 3, seed: int = 0, batch: int = 4
                 ) -> tuple[list[Result], dict]:
    """Reference run vs. a run killed with SIGKILL at `kills` random moments (seeded) and resumed each time."""
    import torch

    rng = np.random.default_rng(seed)
    data = make_camvid(workdir / "camvid", seed=seed)
    env = _subprocess_env()
    results: list[Result] = []
    # reference: uninterrupted
    ref = workdir / "run_ref"
    t0 = time.perf_counter()
    proc = subprocess.run([PYTHON, "-m", "gald.train", *train_args(data, ref, iters, batch=batch)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    ref_seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        results.append(Result("training", "reference run", f"{iters} steps", f"exit {proc.returncode}: "
                              f"{_short(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else '')}", False))
        return results, {}
    times = [r["time"] for r in map(json.loads, (ref / "log.jsonl").read_text().splitlines())
             if r.get("event") == "train"]
    step_seconds = float(np.median(np.diff(times))) if len(times) > 2 else ref_seconds / iters
    # one kill point per stretch of the run (seeded), each `frac` of a step after a snapshot appeared
    chunks = np.array_split(np.arange(1, iters), min(kills, iters - 1))
    targets = [int(rng.choice(c)) for c in chunks]
    delays = rng.uniform(0.0, 0.9, size=len(targets)).tolist()
    run = workdir / "run_killed"
    kill_log: list[dict[str, Any]] = []
    for i, (target, frac) in enumerate(zip(targets, delays, strict=True)):
        args = train_args(data, run, iters, batch=batch) + (["--resume"] if i else [])
        err_path = workdir / f"killed_{i + 1}.stderr"
        with open(err_path, "w") as err:  # a file, not a pipe: a full pipe would stall the trainer
            proc = subprocess.Popen([PYTHON, "-m", "gald.train", *args], cwd=REPO, env=env,
                                    stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.time() + 600
        target = min(max(target, _latest_step(run) + 1), iters - 1)  # each segment makes progress first
        while _latest_step(run) < target and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(frac * step_seconds)  # somewhere inside the next step / snapshot / validation
        finished = proc.poll() is not None
        if not finished:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        stderr = err_path.read_text()
        loadable, note = _checkpoints_loadable(run)
        tmp_left = sorted(p.name for p in run.iterdir() if p.name.endswith(".tmp") or ".tmp" in p.name)
        kill_log.append({"kill": i + 1, "after_snapshot": target, "delay_steps": round(frac, 2),
                         "snapshot_at_kill": _latest_step(run), "finished_before_kill": finished,
                         "checkpoints": note, "temp_files_left": tmp_left})
        results.append(Result("training", f"kill -9 #{i + 1} (after step {target} + {frac:.2f} step)",
                              "best/last load", f"snapshot {_latest_step(run)}; {note}"
                              + (f"; {len(tmp_left)} temp file(s) left" if tmp_left else "")
                              + ("; finished before the kill (no kill)" if finished else ""),
                              loadable and not finished))
        if finished and proc.returncode != 0:
            results[-1].observed += f" [exit {proc.returncode}: {_short(stderr.strip()[-200:])}]"
    t0 = time.perf_counter()
    proc = subprocess.run([PYTHON, "-m", "gald.train", *train_args(data, run, iters, batch=batch), "--resume"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    final_ok = proc.returncode == 0
    final_step = json.loads((run / "last.json").read_text())["training"]["step"] if (run / "last.json").exists() else -1
    a, b = _load_state(ref / "last.safetensors"), _load_state(run / "last.safetensors") if final_ok else {}
    same_keys = a.keys() == b.keys()
    unequal = [k for k in a if k in b and not torch.equal(a[k], b[k])]
    max_diff = max((float((a[k].float() - b[k].float()).abs().max()) for k in unequal), default=0.0)
    results.append(Result("training", "final resume", f"exit 0 at step {iters}",
                          f"exit {proc.returncode}, step {final_step}", final_ok and final_step == iters,
                          time.perf_counter() - t0))
    results.append(Result("training", f"weights vs uninterrupted run ({len(a)} tensors)", "torch.equal on every tensor",
                          ("all equal" if same_keys and not unequal else
                           f"{len(unequal)} differ (max |diff| {max_diff:.2e})" if same_keys else "different keys"),
                          final_ok and same_keys and not unequal))
    ref_log = [json.loads(x) for x in (ref / "log.jsonl").read_text().splitlines()]
    run_log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    ref_best = max((r["gald_miou"] for r in ref_log if r.get("event") == "val"), default=None)
    run_best = json.loads((run / "best.json").read_text())["metrics"]["val"]["gald"]["miou"] if (
        run / "best.json").exists() else None
    results.append(Result("training", "best checkpoint vs uninterrupted run", "same best val mIoU",
                          f"{run_best} vs {ref_best}", run_best is not None and run_best == ref_best))
    figures = {"iters": iters, "reference_seconds": round(ref_seconds, 1), "kills": kill_log,
               "resumes": sum(1 for r in run_log if r.get("event") == "resume")}
    return results, figures


def _val_steps(run: Path) -> list[int]:
    log = run / "log.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    return [r["step"] for r in map(json.loads, lines) if r.get("event") == "val"]


def _train_steps(run: Path) -> list[int]:
    log = run / "log.jsonl"
    lines = log.read_text().splitlines() if log.exists() else []
    return [r["step"] for r in map(json.loads, lines) if r.get("event") == "train"]


def kill_during_validation(workdir: Path, *, iters: int = 4, eval_every: int = 2, batch: int = 4,
                           attempts: int = 3) -> Result:
    """kill -9 as soon as eval step k's training is logged (validation and snapshot k still to come), then
    --resume. An uninterrupted run validates at k; the resumed run must too, or best.* could differ.
    The kill has to land in a short window: up to `attempts` fresh runs are tried, and a case that never
    lands in it is a failure (not a pass, not a skip)."""
    data = workdir / "camvid" if (workdir / "camvid").is_dir() else make_camvid(workdir / "camvid")
    k = eval_every
    t0 = time.perf_counter()
    name = f"kill -9 between step {k} and its validation/snapshot"
    expected = f"resume validates step {k} (as the uninterrupted run does)"
    for attempt in range(attempts):
        run = workdir / f"run_valkill{attempt}"
        args = train_args(data, run, iters, eval_every=eval_every, batch=batch)
        with open(workdir / f"valkill{attempt}.stderr", "w") as err:
            proc = subprocess.Popen([PYTHON, "-m", "gald.train", *args], cwd=REPO, env=_subprocess_env(),
                                    stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.time() + 600
        while k not in _train_steps(run) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if _latest_step(run) < k:
            break  # the kill landed between step k and its snapshot: the case is conclusive
    else:
        return Result("training", name, expected, f"inconclusive after {attempts} runs: snapshot {k} was always "
                      "written before the kill", False, time.perf_counter() - t0)
    loadable, note = _checkpoints_loadable(run)
    proc2 = subprocess.run([PYTHON, "-m", "gald.train", *args, "--resume"], cwd=REPO, env=_subprocess_env(),
                           capture_output=True, text=True, timeout=900)
    steps = _val_steps(run)
    best = json.loads((run / "best.json").read_text())["training"]["step"] if (run / "best.json").exists() else None
    ok = proc2.returncode == 0 and k in steps and loadable
    observed = (f"exit {proc2.returncode}; validated at steps {steps} (uninterrupted: "
                f"{list(range(eval_every, iters + 1, eval_every))}); best.json from step {best}; {note}")
    return Result("training", name, expected, observed, ok, time.perf_counter() - t0)


NAN_SCRIPT = """
import math, sys
import gald.losses as L
_orig, _calls = L.GALDLoss.forward, [0]
def forward(self, *a, **k):
    out = _orig(self, *a, **k)
    _calls[0] += 1
    if _calls[0] == {nan_step}:
        out = dict(out, total=out["total"] * math.nan)
    return out
L.GALDLoss.forward = forward
from gald.train import main
raise SystemExit(main(sys.argv[1:]))
"""


def nan_stop(workdir: Path, *, iters: int = 5, nan_step: int = 3, batch: int = 4) -> Result:
    """A NaN loss at `nan_step` (monkeypatched in the subprocess, no hook in gald) stops the run with a message;
    last.* stays the intact checkpoint of step nan_step-1."""
    import torch

    import gald

    data = workdir / "camvid" if (workdir / "camvid").is_dir() else make_camvid(workdir / "camvid")
    run = workdir / "run_nan"
    t0 = time.perf_counter()
    proc = subprocess.run([PYTHON, "-c", NAN_SCRIPT.replace("{nan_step}", str(nan_step)),
                           *train_args(data, run, iters, eval_every=100, batch=batch)], cwd=REPO, env=_subprocess_env(),
                          capture_output=True, text=True, timeout=600)
    message = next((line for line in proc.stderr.splitlines() if "loss became" in line), "")
    problems = []
    if proc.returncode == 0:
        problems.append("exit 0")
    if not re.search(rf"loss became nan at step {nan_step}", message):
        problems.append("no clear message")
    try:
        model, meta = gald.load_checkpoint(run / "last")
        step = meta["training"]["step"]
        finite = all(torch.isfinite(v).all() for v in model.state_dict().values() if v.is_floating_point())
        if step != nan_step - 1:
            problems.append(f"last is step {step}, expected {nan_step - 1}")
        if not finite:
            problems.append("last has non-finite weights")
        last = f"last: step {step}, finite={finite}"
    except Exception as exc:
        problems.append(f"last broken: {exc}")
        last = "last: broken"
    if TRACEBACK.search(proc.stderr):
        problems.append("traceback")
    observed = f"exit {proc.returncode}, {_short(message.replace(str(run), '<run>'), 60)}; {last}"
    return Result("training", f"NaN loss injected at step {nan_step}", "non-zero exit, message, last intact",
                  observed + (f" [{'; '.join(problems)}]" if problems else ""), not problems,
                  time.perf_counter() - t0)


# =====================================================================================================
# Load: the app as a subprocess, concurrent clients, memory
# =====================================================================================================
class AppProcess:
    """`python app.py --checkpoint CK` on 127.0.0.1:<free port>; `rss_mb()` of the process tree."""

    def __init__(self, checkpoint: Path, workdir: Path, ready_timeout: float = 240) -> None:
        import psutil

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.tmp = workdir / "server_tmp"  # TMPDIR: the app's exports and gradio's cache, to measure disk use
        self.tmp.mkdir(parents=True, exist_ok=True)
        env = {**_subprocess_env(), "GRADIO_SERVER_PORT": str(self.port), "GRADIO_SERVER_NAME": "127.0.0.1",
               "TMPDIR": str(self.tmp), "GRADIO_TEMP_DIR": str(self.tmp / "gradio")}
        self.log_path = workdir / "server.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen([PYTHON, "app.py", "--checkpoint", str(checkpoint)], cwd=REPO, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        self.ps = psutil.Process(self.proc.pid)
        self._wait_ready(ready_timeout)

    def _wait_ready(self, timeout: float) -> None:
        import httpx

        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "config", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.close()
        raise TimeoutError(f"app.py not ready after {timeout:.0f} s: {self.log_path.read_text()[-2000:]}")

    def rss_mb(self) -> float:
        import psutil

        total = 0
        for p in [self.ps, *self.ps.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total / 2**20

    def disk_mb(self, part: str = "") -> float:
        """MB of temporary files: all, or only those under `part` (e.g. "gradio": gradio's cache)."""
        root = self.tmp / part if part else self.tmp
        total = 0
        for f in root.rglob("*"):
            with contextlib.suppress(OSError):  # the app deletes files while we walk
                total += f.stat().st_size if f.is_file() else 0
        return total / 2**20

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> AppProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_images(workdir: Path, n: int, size: tuple[int, int] = (160, 120)) -> list[Path]:
    """n distinct images (so the Predictor's cache never answers instead of the network)."""
    d = workdir / "load_images"
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = d / f"img_{i:04d}.png"
        if not p.exists():
            Image.fromarray(synthetic_pair(size, seed=1000 + i)[0]).save(p)
        paths.append(p)
    return paths


@dataclass
class _Sampler:
    """Samples RSS in a thread: the peak during a burst, not only between requests."""

    server: AppProcess
    interval: float = 0.1
    peak: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> _Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.server.rss_mb())
            self._stop.wait(self.interval)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def concurrent_load(server: AppProcess, images: list[Path], clients: int, per_client: int) -> dict[str, Any]:
    """`clients` threads, each with its own gradio_client, each running `per_client` analyses back to back."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    apps = [AppClient(server.url, False) for _ in range(clients)]
    barrier = threading.Barrier(clients)

    def worker(c: int) -> None:
        barrier.wait()
        for j in range(per_client):
            img = images[(c * per_client + j) % len(images)]
            t0 = time.perf_counter()
            try:
                out = apps[c].analyze(img)
                ok = "Analysed" in str(out.get("summary", ""))
                problem = None if ok else "no summary"
            except Exception as exc:
                problem = f"{type(exc).__name__}: {_short(str(exc), 80)}"
            with lock:
                (failures.append(problem) if problem else latencies.append(time.perf_counter() - t0))

    rss0 = server.rss_mb()
    t0 = time.perf_counter()
    with _Sampler(server) as sampler:
        threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    wall = time.perf_counter() - t0
    return {"clients": clients, "per_client": per_client, "requests": clients * per_client,
            "ok": len(latencies), "failures": len(failures), "failure_messages": sorted(set(failures))[:5],
            "p50_s": round(_pct(latencies, 50), 2), "p95_s": round(_pct(latencies, 95), 2),
            "max_s": round(max(latencies, default=float("nan")), 2), "wall_s": round(wall, 1),
            "throughput_per_min": round(60 * len(latencies) / wall, 1), "rss_before_mb": round(rss0),
            "rss_peak_mb": round(max(sampler.peak, server.rss_mb()))}


def burst(server: AppProcess, images: list[Path], n: int) -> dict[str, Any]:
    """Submit `n` analyses at once from one client: beyond the queue's max_size they must be refused, not pile up."""
    app = AppClient(server.url, False)
    from gradio_client import handle_file

    jobs = [app.client.submit(handle_file(str(images[i % len(images)])), None, 0.6, 0, api_name="/analyze")
            for i in range(n)]
    done, refused, other = 0, 0, []
    for job in jobs:
        try:
            job.result(timeout=600)
            done += 1
        except Exception as exc:
            if re.search(r"queue is full|Queue is full", str(exc), re.I):
                refused += 1
            else:
                other.append(_short(f"{type(exc).__name__}: {exc}", 80))
    return {"submitted": n, "completed": done, "refused_queue_full": refused, "other_errors": sorted(set(other))[:3]}


def sequential_memory(server: AppProcess, images: list[Path], n: int, warmup: int) -> dict[str, Any]:
    """RSS after each of `n` sequential analyses (distinct images); slope of a linear fit after `warmup`."""
    app = AppClient(server.url, False)
    rss, lat, failures = [], [], 0
    disk0, cache0 = server.disk_mb(), server.disk_mb("gradio")
    for i in range(n):
        t0 = time.perf_counter()
        try:
            app.analyze(images[i % len(images)])
            lat.append(time.perf_counter() - t0)
        except Exception:
            failures += 1
        rss.append(server.rss_mb())
    y = np.asarray(rss[warmup:])
    x = np.arange(warmup, n)
    slope = float(np.polyfit(x, y, 1)[0]) * 100 if len(y) > 2 else float("nan")
    disk, cache = server.disk_mb() - disk0, server.disk_mb("gradio") - cache0
    exports = server.tmp / "gald_studio"
    return {"requests": n, "warmup": warmup, "failures": failures, "rss_first_mb": round(rss[0]),
            "rss_after_warmup_mb": round(rss[min(warmup, n - 1)]), "rss_last_mb": round(rss[-1]),
            "rss_max_mb": round(max(rss)), "slope_mb_per_100": round(slope, 2),
            "p50_s": round(_pct(lat, 50), 2), "p95_s": round(_pct(lat, 95), 2),
            "disk_growth_mb_per_100": round(100 * disk / max(n, 1), 2),
            "gradio_cache_growth_mb_per_100": round(100 * cache / max(n, 1), 2),
            "app_export_dirs_at_end": len(list(exports.iterdir())) if exports.is_dir() else 0,
            "rss_series_mb": [round(v, 1) for v in rss]}


def load_results(figures: dict[str, Any], *, rss_limit_mb: float = 3072, slope_limit: float = 25.0) -> list[Result]:
    c, s = figures["concurrent"], figures["sequential"]
    out = [Result("load", f"{c['clients']} clients x {c['per_client']} analyses", "0 failures",
                  f"{c['failures']} failures; p50 {c['p50_s']} s, p95 {c['p95_s']} s"
                  + (f" [{'; '.join(c['failure_messages'])}]" if c["failures"] else ""), c["failures"] == 0),
           Result("load", "server RSS during concurrent load", f"< {rss_limit_mb / 1024:.0f} GB",
                  f"peak {c['rss_peak_mb']} MB", c["rss_peak_mb"] < rss_limit_mb),
           Result("load", f"{s['requests']} sequential analyses", "0 failures, RSS < 3 GB",
                  f"{s['failures']} failures, max RSS {s['rss_max_mb']} MB",
                  s["failures"] == 0 and s["rss_max_mb"] < rss_limit_mb),
           Result("load", f"RSS slope after {s['warmup']} warm-up requests", f"< {slope_limit:g} MB / 100 requests",
                  f"{s['slope_mb_per_100']:+.1f} MB / 100 requests", abs(s["slope_mb_per_100"]) < slope_limit)]
    if "delete_cache" in figures:
        bounded = bool(figures["delete_cache"]) and s["app_export_dirs_at_end"] <= 16
        out.append(Result("load", "temp files (disk)", "bounded: delete_cache set, app exports pruned",
                          f"+{s['disk_growth_mb_per_100']:.0f} MB / 100 analyses "
                          f"({s['gradio_cache_growth_mb_per_100']:.0f} in gradio's cache); "
                          f"delete_cache={figures['delete_cache']}; {s['app_export_dirs_at_end']} export dirs left",
                          bounded))
    if figures.get("server_errors"):
        out[0].observed += f" [server log: {'; '.join(figures['server_errors'])}]"
    if "queue_max_size" in figures:
        out.append(Result("load", "queue bound (demo.queue max_size)", "set (bounded)",
                          str(figures["queue_max_size"]), bool(figures["queue_max_size"])))
    if "burst" in figures:
        b = figures["burst"]
        out.append(Result("load", f"burst of {b['submitted']} at once", "excess refused (queue full), rest done",
                          f"{b['completed']} done, {b['refused_queue_full']} refused"
                          + (f", other errors: {b['other_errors']}" if b["other_errors"] else ""),
                          not b["other_errors"] and b["completed"] + b["refused_queue_full"] == b["submitted"]
                          and (b["refused_queue_full"] > 0 or b["submitted"] <= (figures.get("queue_max_size") or 0))))
        if "after_burst_ok" in b:
            out.append(Result("load", "a request after the burst", "served normally",
                              "served" if b["after_burst_ok"] else b.get("after_burst_error", "failed"),
                              b["after_burst_ok"]))
    return out


def queue_max_size() -> int | None:
    """max_size of the app's queue (app.ui.QUEUE_SIZE; the tests also check the built demo's queue)."""
    from app import ui

    return getattr(ui, "QUEUE_SIZE", None)


def delete_cache_setting(checkpoint: Path) -> Any:
    """`delete_cache` of the Blocks the app builds: gradio's cache is otherwise never cleaned."""
    from app.inference import Predictor
    from app.ui import build_demo

    return build_demo(Predictor.from_checkpoint(checkpoint)).delete_cache


def server_errors(log: Path, limit: int = 5) -> list[str]:
    """Distinct exception lines in the server log (for the report when a request failed)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    found = re.findall(r"^(?:[\w.]+(?:Error|Exception|Interrupt)\b.*)$", text, re.M)
    return sorted({_short(f, 150) for f in found if not f.startswith("KeyboardInterrupt")})[:limit]


def run_load(checkpoint: Path, workdir: Path, *, clients: int, per_client: int, sequential: int, warmup: int,
             burst_n: int = 0, image_size: tuple[int, int] = (160, 120)) -> dict[str, Any]:
    """Every phase gets its own images, so no request is answered from the Predictor's cache. After a burst,
    one more analysis must be served normally (`after_burst_ok`)."""
    n_conc = clients * per_client
    images = load_images(workdir, 2 + n_conc + burst_n + sequential, image_size)
    first, conc = images[0], images[1:1 + n_conc]
    bursts, seq = images[1 + n_conc:1 + n_conc + burst_n], images[1 + n_conc + burst_n:-1]
    figures: dict[str, Any] = {"image_size": f"{image_size[0]}x{image_size[1]}", "checkpoint": str(checkpoint),
                               "queue_max_size": queue_max_size(), "delete_cache": delete_cache_setting(checkpoint)}
    t0 = time.perf_counter()
    with AppProcess(checkpoint, workdir) as server:
        figures["startup_s"] = round(time.perf_counter() - t0, 1)
        figures["rss_idle_mb"] = round(server.rss_mb())
        AppClient(server.url, False).analyze(first)  # the first request pays lazy imports
        figures["concurrent"] = concurrent_load(server, conc, clients, per_client)
        if burst_n:
            figures["burst"] = burst(server, bursts, burst_n)
            try:
                after = AppClient(server.url, False).analyze(images[-1])
                figures["burst"]["after_burst_ok"] = "Analysed" in str(after.get("summary", ""))
            except Exception as exc:  # the server must serve normally once the burst has drained
                figures["burst"]["after_burst_ok"] = False
                figures["burst"]["after_burst_error"] = _short(f"{type(exc).__name__}: {exc}", 80)
        figures["sequential"] = sequential_memory(server, seq, sequential, warmup)
        figures["rss_end_mb"] = round(server.rss_mb())
    figures["server_errors"] = server_errors(server.log_path)
    return figures
