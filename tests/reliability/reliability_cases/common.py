"""Shared by every area: the Result row, ports, tiny checkpoints and the synthetic image builders."""

from __future__ import annotations

import io
import os
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmarks.app_harness import free_port, write_zero_png  # noqa: F401  (re-exported for the cases)
from gald.data.constants import CAMVID_CLASSES, CAMVID_PALETTE
from gald.models.backbones import IMAGENET_NORMALIZATION

REPO = Path(__file__).resolve().parents[3]

PYTHON = sys.executable
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




def make_checkpoint(path: str | os.PathLike, *, num_classes: int = 11, mid_channels: int = 32, seed: int = 0) -> Path:
    """A tiny random GALDNet checkpoint with CamVid metadata (no trained weights needed for reliability)."""
    import torch

    import gald

    torch.manual_seed(seed)
    model = gald.build_model(num_classes=num_classes, mid_channels=mid_channels).eval()
    meta = {"class_names": CAMVID_CLASSES[:num_classes], "palette": PALETTE[:num_classes],
            "normalization": IMAGENET_NORMALIZATION, "inference": {"scale": 1.0}}
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




def save(img: Image.Image, path: Path, fmt: str | None = None, **kwargs: Any) -> Path:
    img.save(path, fmt, **kwargs)
    return path


def good_png(d: Path, name: str = "good.png", size: tuple[int, int] = GOOD_SIZE, seed: int = 0) -> Path:
    return save(Image.fromarray(synthetic_pair(size, seed)[0]), d / name)


def encoded(fmt: str, size: tuple[int, int] = GOOD_SIZE, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(synthetic_pair(size)[0]).save(buf, fmt, **kwargs)
    return buf.getvalue()


def solid(colour: tuple[int, int, int], size: tuple[int, int] = GOOD_SIZE) -> Image.Image:
    return Image.new("RGB", size, colour)

def short(text: str, n: int = 90) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."
