"""Shared by every area: the Result row, ports, tiny checkpoints and the synthetic image builders."""

from __future__ import annotations

import io
import os
import re
import socket
import struct
import sys
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:  # the report script and pytest from anywhere
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

def _short(text: str, n: int = 90) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def write_many_page_tiff(path: Path, pages: int, size: tuple[int, int] = GOOD_SIZE) -> Path:
    """A valid TIFF whose first page is a `size` grey image and which holds `pages` - 1 more 1x1 pages, written
    as raw IFDs (Pillow's save_all would take minutes): 40,000 pages are ~4 MB."""
    w, h = size
    pixels = bytes(range(256)) * (w * h // 256 + 1)
    first_strip = pixels[: w * h]
    header = 8

    def ifd(width: int, height: int, strip_offset: int, strip_bytes: int, next_ifd: int) -> bytes:
        entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
                   (273, 4, 1, strip_offset), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, strip_bytes)]
        body = struct.pack("<H", len(entries))
        for tag, typ, count, value in entries:
            body += struct.pack("<HHI", tag, typ, count) + (struct.pack("<HH", value, 0) if typ == 3
                                                            else struct.pack("<I", value))
        return body + struct.pack("<I", next_ifd)

    ifd_size = len(ifd(1, 1, 0, 0, 0))
    tiny_strip = header + len(first_strip)  # one shared byte for every 1x1 page
    first_ifd = tiny_strip + 1
    parts = [b"II*\x00" + struct.pack("<I", first_ifd), first_strip, b"\x80"]
    for i in range(pages):
        offset = first_ifd + i * ifd_size
        nxt = offset + ifd_size if i + 1 < pages else 0
        parts.append(ifd(w, h, header, len(first_strip), nxt) if i == 0 else ifd(1, 1, tiny_strip, 1, nxt))
    path.write_bytes(b"".join(parts))
    return path
