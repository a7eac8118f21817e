"""Decode and validate user uploads: images (any common format and colour mode) and ground-truth labels.

Everything a user can upload ends here, so every failure becomes an `InputError` whose message is
shown to the user verbatim (no stack traces). No gradio import: the UI converts `InputError` to
`gr.Error`.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from gald.data.constants import IGNORE_INDEX

from . import budget

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")  # JPEG also opens MPO (multi-picture JPEG)
DRAFT_FORMATS = ("JPEG", "MPO")  # decoded at 1/2, 1/4 or 1/8 size in the decoder itself (Image.draft)
EXIF_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                  4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270,
                  7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}  # as ImageOps.exif_transpose
FORMAT_NAMES = "PNG, JPEG, WebP, BMP, TIFF or GIF"
MAX_FILE_BYTES = budget.MAX_UPLOAD_BYTES
MIN_SIDE = 16
MAX_ASPECT = 10
MAX_SIDE = budget.MAX_SIDE  # longer side after downscaling (app/budget.py derives it)
OUT_OF_RANGE_TOLERANCE = 0.01  # share of label pixels with unknown ids that is silently ignored


class InputError(ValueError):
    """An upload that cannot be used. The message is meant for the user."""


@dataclass
class LoadedImage:
    rgb: np.ndarray  # (H, W, 3) uint8, EXIF-oriented and possibly downscaled
    original_size: tuple[int, int]  # (width, height) after EXIF orientation, before downscaling
    name: str = "image"
    notices: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]


def _display_name(path: str | os.PathLike) -> str:
    return Path(path).name or "upload"


def _open(path: str | os.PathLike, what: str) -> Image.Image:
    """Open (header only) with the formats we accept; refuse empty, huge and bomb-sized files."""
    name = _display_name(path)
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} {name!r} was not received or is no longer in the server's upload cache "
                         "(uploads are kept for a while, oldest removed first); upload it again")
    size = p.stat().st_size
    if size == 0:
        raise InputError(f"{what} {name!r} is empty (0 bytes)")
    if size > MAX_FILE_BYTES:
        raise InputError(f"{what} {name!r} is {size / 2**20:.1f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB")
    try:
        with warnings.catch_warnings():
            # PIL only warns between MAX_IMAGE_PIXELS and twice that; refuse the whole range.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(p, formats=ALLOWED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"{what} {name!r} is too large to decode safely (over Pillow's decompression-bomb "
                         f"limit of {Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels): {exc}") from None
    except UnidentifiedImageError:
        raise InputError(f"{what} {name!r} is not a readable image; upload a {FORMAT_NAMES} file") from None
    except OSError as exc:
        raise InputError(f"{what} {name!r} could not be opened: {exc}") from None
    w, h = img.size
    if Image.MAX_IMAGE_PIXELS and w * h > Image.MAX_IMAGE_PIXELS:
        raise InputError(f"{what} {name!r} is {w}x{h} ({w * h / 1e6:.0f} megapixels), over Pillow's "
                         f"decompression-bomb limit of {Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels")
    # progressive JPEGs keep every coefficient of the full image while decoding, whatever the draft size
    drafted = img.format in DRAFT_FORMATS and not (img.info.get("progressive") or img.info.get("progression"))
    if not drafted and w * h > budget.MAX_DECODE_PIXELS:
        # checked from the header, before any pixel is decoded (Image.open is lazy)
        kind = f"progressive {img.format}" if img.format in DRAFT_FORMATS else img.format
        raise InputError(f"{what} {name!r} is {w}x{h} ({w * h / 1e6:.1f} megapixels); {kind} images over "
                         f"{budget.MAX_DECODE_PIXELS / 1e6:.0f} megapixels are refused (decoding them would "
                         f"take seconds and GBs of memory; the app analyses at most {budget.MAX_SIDE} pixels "
                         f"per side anyway). Downscale it, or upload a baseline JPEG (decoded at reduced size)")
    return img


def has_more_frames(img: Image.Image) -> bool:
    """Whether a file holds more than one frame, without counting them: Pillow's `n_frames` walks every
    page of a TIFF (a 4 MB file can hold 80,000). `is_animated` probes frame 1 only (or reads the count
    from the header where the format has one)."""
    try:
        return bool(getattr(img, "is_animated", False))
    except (OSError, ValueError, EOFError, SyntaxError):
        return False  # a broken second page: the first frame is all we read anyway


def _load_pixels(img: Image.Image, what: str, name: str) -> Image.Image:
    try:
        img.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(f"{what} {name!r} could not be decoded (truncated or corrupt file: {exc})") from None
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block must not make a good image unusable
        return img


def to_rgb(img: Image.Image, notices: list[str] | None = None) -> np.ndarray:
    """Any Pillow mode -> (H, W, 3) uint8 RGB. High bit depths are scaled, alpha is flattened on white."""
    notices = notices if notices is not None else []
    mode = img.mode
    if mode == "RGB":
        return np.asarray(img, dtype=np.uint8)
    if mode.startswith("I"):  # I, I;16, I;16B, I;16L ...: 16/32-bit integer grey
        arr = np.asarray(img).astype(np.float32)  # float32: a 24 MP float64 copy is 200 MB
        top = 65535.0 if arr.max(initial=0) > 255 else 255.0
        if arr.max(initial=0) > 65535 or arr.min(initial=0) < 0:
            lo, hi = float(arr.min()), float(arr.max())
            arr, top = arr - lo, max(hi - lo, 1.0)
        notices.append(f"{mode} image ({'16' if top == 65535.0 else 'high'}-bit) converted to 8-bit RGB")
        grey = np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        finite = np.isfinite(arr)
        if not finite.any():
            raise InputError("float image contains no finite values")
        arr = np.where(finite, arr, 0.0)
        lo, hi = float(arr[finite].min()), float(arr[finite].max())
        if lo >= 0.0 and hi <= 1.0:
            arr = arr * 255.0
        elif lo < 0.0 or hi > 255.0:
            arr = (arr - lo) * (255.0 / max(hi - lo, 1e-12))
            notices.append(f"float image with range [{lo:.3g}, {hi:.3g}] rescaled to 0..255")
        grey = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info)
    try:
        if has_alpha:
            rgba = img.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            if np.asarray(rgba)[..., 3].min() < 255:
                notices.append("transparent pixels were flattened onto white")
            return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8)
        return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (ValueError, OSError) as exc:
        raise InputError(f"colour mode {mode!r} is not supported ({exc}); save the image as 8-bit RGB") from None


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block must not make a good image unusable
        return 1


def _reduce_early(img: Image.Image, max_side: int) -> Image.Image:
    """Box-reduce a big decoded image by an integer factor before any conversion, so the 16-bit / float /
    RGBA -> RGB conversions run on at most ~(2 x max_side)^2 pixels, not on the full decode."""
    factor = max(img.size) // (2 * max_side)
    if factor < 2 or img.mode in ("P", "1"):  # palette indices cannot be averaged
        return img
    try:
        return img.reduce(factor)
    except (ValueError, OSError):  # a mode the reducer does not support: convert at full size
        return img


def load_image(path: str | os.PathLike, *, max_side: int = MAX_SIDE) -> LoadedImage:
    """Decode an uploaded image: honour EXIF orientation, convert to RGB, downscale very large images.
    Work is bounded by the header: big JPEGs are decoded at reduced size, other formats over
    budget.MAX_DECODE_PIXELS are refused before decoding, and only the first frame is read."""
    name = _display_name(path)
    img = _open(path, "image")
    notices: list[str] = []
    w, h = img.size
    orientation = _orientation(img)
    if orientation in (5, 6, 7, 8):  # EXIF orientations that swap the axes
        w, h = h, w
    original = (w, h)
    if min(w, h) < MIN_SIDE:
        raise InputError(f"image {name!r} is {w}x{h} pixels; at least {MIN_SIDE}x{MIN_SIDE} is needed")
    if max(w, h) > MAX_ASPECT * min(w, h):
        raise InputError(f"image {name!r} is {w}x{h} pixels; aspect ratios beyond {MAX_ASPECT}:1 are not supported")
    if has_more_frames(img):
        notices.append(f"{img.format} file has more than one frame; using the first")
    if img.format in DRAFT_FORMATS and max(img.size) > 2 * max_side:
        img.draft("RGB", (max_side, max_side))  # decode big JPEGs at reduced scale: less memory, faster
    try:
        img.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(f"image {name!r} could not be decoded (truncated or corrupt file: {exc})") from None
    img = _reduce_early(img, max_side)
    if orientation in EXIF_TRANSPOSE:
        img = img.transpose(EXIF_TRANSPOSE[orientation])
    rgb = to_rgb(img, notices)
    if max(w, h) > max_side:
        scale = max_side / max(w, h)
        new = (max(1, round(w * scale)), max(1, round(h * scale)))
        rgb = np.asarray(Image.fromarray(rgb).resize(new, Image.Resampling.LANCZOS, reducing_gap=3.0))
        notices.append(f"large image ({w}x{h}) downscaled to {new[0]}x{new[1]} for analysis")
    return LoadedImage(rgb=np.ascontiguousarray(rgb), original_size=original, name=name, notices=notices)


def _colour_label(rgb: np.ndarray, palette: np.ndarray, name: str) -> np.ndarray:
    """Colour label -> class ids via exact palette match; black is void unless it is a class colour."""
    codes = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    uniq, inverse = np.unique(codes.ravel(), return_inverse=True)
    pal_codes = (palette[:, 0] << 16) | (palette[:, 1] << 8) | palette[:, 2]
    lut = np.full(len(uniq), -1, dtype=np.int64)
    for cls, code in enumerate(pal_codes.tolist()):
        lut[uniq == code] = cls
    lut[(lut < 0) & (uniq == 0)] = IGNORE_INDEX  # (0, 0, 0): void in CamVid / Cityscapes colour labels
    unknown = np.flatnonzero(lut < 0)
    if unknown.size:
        counts = np.bincount(inverse, minlength=len(uniq))[unknown]
        order = unknown[np.argsort(-counts)][:5]
        listed = ", ".join(f"({c >> 16}, {(c >> 8) & 255}, {c & 255})" for c in uniq[order].tolist())
        raise InputError(f"label {name!r} has {unknown.size} colour(s) that are not in the model's palette, "
                         f"e.g. {listed}. Upload class ids (0..{len(palette) - 1}) or a lossless PNG in the "
                         "legend colours (black = void)")
    return lut[inverse].reshape(codes.shape).astype(np.uint8)


def _id_label(ids: np.ndarray, num_classes: int, void_ids: set[int], name: str,
              notices: list[str]) -> np.ndarray:
    ids = ids.astype(np.int64)
    valid = (ids >= 0) & (ids < num_classes)
    void = np.isin(ids, sorted(void_ids))
    bad = ~valid & ~void
    share = float(bad.mean())
    if share > OUT_OF_RANGE_TOLERANCE:
        found = np.unique(ids[bad])[:8].tolist()
        raise InputError(f"label {name!r} has values outside 0..{num_classes - 1} (e.g. {found}) in "
                         f"{share:.1%} of its pixels; expected class ids 0..{num_classes - 1}, with "
                         f"{sorted(void_ids)} as void")
    if bad.any():
        notices.append(f"{share:.2%} of label pixels had unknown ids and are ignored")
    out = np.where(valid, ids, IGNORE_INDEX).astype(np.uint8)
    return out


def load_label(path: str | os.PathLike, *, num_classes: int, palette: list | np.ndarray,
               image_size: tuple[int, int], original_size: tuple[int, int] | None = None,
               void_id: int | None = None, notices: list[str] | None = None) -> np.ndarray:
    """Ground truth -> (H, W) uint8 class ids, 255 = ignore, matching `image_size` (width, height).

    Class-id images (L / I / P modes, or RGB with R = G = B): values 0..K-1; 255 and `void_id`
    (default K, the SegNet CamVid convention) are ignored, other out-of-range values too if they cover
    at most 1% of the pixels, else an error. Colour images: exact match against `palette`.
    A label of the original size of a downscaled image is resized with nearest neighbours.
    """
    notices = notices if notices is not None else []
    name = _display_name(path)
    img = _load_pixels(_open(path, "label"), "label", name)
    palette = np.asarray(palette, dtype=np.int32).reshape(-1, 3)
    if img.size != tuple(image_size):
        if original_size is not None and img.size == tuple(original_size):
            img = img.resize(tuple(image_size), Image.Resampling.NEAREST)
        else:
            raise InputError(f"label {name!r} is {img.size[0]}x{img.size[1]} pixels but the image is "
                             f"{image_size[0]}x{image_size[1]}; upload the label that belongs to this image")
    void_ids = {IGNORE_INDEX, num_classes if void_id is None else int(void_id)}
    mode = img.mode
    if mode == "F":
        raise InputError(f"label {name!r} is a float image; labels must hold integer class ids or colours")
    if mode == "P":
        idx = np.asarray(img)
        pal = np.asarray(img.getpalette() or [], dtype=np.int32).reshape(-1, 3)
        used = np.unique(idx)
        pal_codes = {tuple(c) for c in palette.tolist()} | {(0, 0, 0)}
        if used.max(initial=0) < len(pal) and all(tuple(pal[u]) in pal_codes for u in used.tolist()):
            return _colour_label(np.asarray(img.convert("RGB")), palette, name)
        return _id_label(idx, num_classes, void_ids, name, notices)
    if mode in ("1", "L") or mode.startswith("I"):
        return _id_label(np.asarray(img), num_classes, void_ids, name, notices)
    rgb = np.asarray(img.convert("RGB"))
    if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
        # Grey RGB: class ids saved as RGB, unless the values are palette colours (e.g. CamVid's grey sky).
        values = set(np.unique(rgb[..., 0]).tolist())
        if all(v < num_classes or v in void_ids for v in values):
            return _id_label(rgb[..., 0], num_classes, void_ids, name, notices)
    return _colour_label(rgb, palette, name)
