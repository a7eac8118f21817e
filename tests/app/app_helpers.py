"""Helpers shared by the app tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import socket
from pathlib import Path

import torch
from PIL import Image

import gald
from gald.data import constants
from gald.data.constants import CAMVID_CLASSES
from gald.models.backbones import IMAGENET_NORMALIZATION

EXAMPLES = Path(__file__).resolve().parents[2] / "app" / "examples"
CAMVID_PALETTE = [list(c) for c in constants.CAMVID_PALETTE]
SIZE = (128, 96)  # width, height of the test images


def make_checkpoint(path: Path, scale: float = 1.0) -> Path:
    torch.manual_seed(0)
    model = gald.build_model(num_classes=11, backbone="resnet18", arrangement="gald").eval()
    meta = {"class_names": CAMVID_CLASSES, "palette": CAMVID_PALETTE,
            "normalization": IMAGENET_NORMALIZATION,
            "inference": {"scale": scale}}
    gald.save_checkpoint(path, model, meta)
    return path


def small_example(out_dir: Path, frame: str = "08101") -> tuple[Path, Path]:
    """A 128x96 image + its class-id label, resized from a bundled CamVid example."""
    img = Image.open(EXAMPLES / f"camvid_0016E5_{frame}.png").convert("RGB").resize(SIZE, Image.BILINEAR)
    lab = Image.open(EXAMPLES / f"camvid_0016E5_{frame}_label.png").resize(SIZE, Image.NEAREST)
    out_dir.mkdir(parents=True, exist_ok=True)
    ip, lp = out_dir / f"small_{frame}.png", out_dir / f"small_{frame}_label.png"
    img.save(ip)
    lab.save(lp)
    return ip, lp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
