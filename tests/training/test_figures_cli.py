"""`python -m gald.figures` on two example images: Figure 4 and 5 as PNG and PDF, with legend and caption."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import gald
from gald.reports import figures

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "app" / "examples"


def test_disagreement_window_finds_the_densest_difference():
    a = np.zeros((60, 80), np.uint8)
    b = a.copy()
    b[40:50, 5:15] = 3  # a small object only one head sees
    b[0, 70] = 1  # a stray pixel elsewhere
    top, left, size = figures.disagreement_window(a, b, 16)
    assert size == 16 and top <= 40 and top + 16 >= 50 and left <= 5 and left + 16 >= 15
    assert figures.disagreement_window(a, a, 16) is None


def test_chosen_channels_are_the_extremes():
    mask = np.stack([np.full((4, 4), v, np.float32) for v in (0.5, 0.9, 0.1, 0.6, 0.2)])
    assert figures.chosen_channels(mask, 4) == [1, 3, 2, 4]


@pytest.mark.slow
def test_cli_on_two_examples(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = gald.build_model(num_classes=11, mid_channels=32)
    meta = {"class_names": [f"c{i}" for i in range(11)], "palette": [[20 * i, 255 - 20 * i, 100] for i in range(11)],
            "normalization": {"mean": [0.5] * 3, "std": [0.25] * 3}, "inference": {"scale": 0.5}}
    gald.save_checkpoint(tmp_path / "ck", model, meta)
    images = [EXAMPLES / "camvid_0016E5_08101.png", EXAMPLES / "camvid_0016E5_07987.png"]
    out = tmp_path / "figs"
    run = subprocess.run([sys.executable, "-m", "gald.figures", "--checkpoint", str(tmp_path / "ck"), *map(str, images),
                          "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    for img in images:
        for fig, width in (("fig5", figures.FIG5_SIZE), ("fig4", figures.FIG4_SIZE)):
            png = Image.open(out / f"{img.stem}_{fig}.png")
            assert png.size == (round(200 * width[0]), round(200 * width[1]))
            pdf = (out / f"{img.stem}_{fig}.pdf").read_bytes()
            assert pdf.startswith(b"%PDF-")
            box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
            assert (float(box[1]), float(box[2])) == pytest.approx((72 * width[0], 72 * width[1]), abs=1)
