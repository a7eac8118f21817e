"""Fixtures for the training / evaluation / prediction tests: a tiny synthetic CamVid folder, a tiny
config, and helpers that run the CLIs in a subprocess (as a user would) with small, CPU-friendly settings.

The synthetic images are coloured rectangles on a coloured background; the colour determines the class
(plus a little noise), so a tiny model learns it within a few dozen steps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
# CamVid train ids used by the synthetic scenes (background first), and one colour per class.
SCENE_CLASSES = {3: (128, 64, 128), 0: (128, 128, 128), 8: (64, 0, 128), 2: (192, 192, 128)}
VOID = 11
HEIGHT, WIDTH = 64, 80

# Settings that make a GALDNet train in well under a second per step on a busy 2-core CPU.
TINY_OVERRIDES = [
    "model.backbone=resnet18",
    "data.crop_size=[64,64]",
    "data.scale_range=[0.75,1.25]",
    "data.workers=0",
    "optim.batch_size=4",
    "train.device=cpu",
    "train.amp=false",
]


def _scene(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    bg = 3
    label = np.full((HEIGHT, WIDTH), bg, np.uint8)
    for cls in (0, 8, 2):
        h, w = int(rng.integers(12, 30)), int(rng.integers(6, 30))
        top, left = int(rng.integers(0, HEIGHT - h)), int(rng.integers(0, WIDTH - w))
        label[top:top + h, left:left + w] = cls
    # a thin void (ignore) border on one side, like CamVid's unlabelled pixels
    label[:, :2] = VOID
    palette = np.zeros((256, 3), np.uint8)
    for cls, colour in SCENE_CLASSES.items():
        palette[cls] = colour
    palette[VOID] = (0, 0, 0)
    image = palette[label].astype(np.int16) + rng.integers(-12, 13, size=(HEIGHT, WIDTH, 3))
    return np.clip(image, 0, 255).astype(np.uint8), label


def write_synthetic_camvid(root: Path, n_train: int = 16, n_val: int = 4, seed: int = 0) -> Path:
    """SegNet CamVid layout: train/, trainannot/, val/, valannot/ PNGs of HEIGHT x WIDTH."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        (root / split).mkdir(parents=True, exist_ok=True)
        (root / f"{split}annot").mkdir(parents=True, exist_ok=True)
        for i in range(n):
            image, label = _scene(rng)
            Image.fromarray(image).save(root / split / f"{split}_{i:03d}.png")
            Image.fromarray(label).save(root / f"{split}annot" / f"{split}_{i:03d}.png")
    return root


@pytest.fixture(scope="session")
def camvid_root(tmp_path_factory) -> Path:
    return write_synthetic_camvid(tmp_path_factory.mktemp("camvid"))


@pytest.fixture(scope="session")
def tiny_config(camvid_root, tmp_path_factory) -> Path:
    """A config file as a user would write it; tests add --set overrides for the run length."""
    path = tmp_path_factory.mktemp("configs") / "tiny.yaml"
    spec = f"camvid:{camvid_root}"
    path.write_text(
        "name: tiny\n"
        "model: {backbone: resnet18, output_stride: 8, arrangement: gald, ga: cgnl}\n"
        f"data: {{train: '{spec}', val: '{spec}', crop_size: [64, 64], scale_range: [0.75, 1.25], workers: 0}}\n"
        "optim: {iters: 30, batch_size: 4, lr: 0.02, warmup_iters: 0}\n"
        "train: {eval_every: 1000, save_every: 10, log_every: 1, device: cpu, amp: false, seed: 0}\n"
    )
    return path


def cli_env(threads: int = 1) -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONPATH=str(REPO),
               HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    return env


def run_module(module: str, *args: str, threads: int = 1, timeout: float = 300,
               check: bool = True) -> subprocess.CompletedProcess:
    """`python -m <module> args...` from the repo root; fails the test with the output if it fails."""
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=cli_env(threads),
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f"python -m {module} {' '.join(args)} exited {proc.returncode}\n"
                    f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-5000:]}", pytrace=False)
    return proc


def train_args(config: Path, out: Path, *extra: str) -> list[str]:
    args = ["--config", str(config), "--out", str(out), "--no-progress"]
    for o in TINY_OVERRIDES:
        args += ["--set", o]
    return [*args, *extra]


def read_log(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def trained_run(tiny_config, tmp_path_factory) -> Path:
    """One 30-step run shared by the training, evaluation and prediction tests."""
    out = tmp_path_factory.mktemp("runs") / "tiny30"
    run_module("gald.train", *train_args(tiny_config, out, "--set", "optim.iters=30"))
    return out


class Tools:
    """The helpers above, handed to tests as the `tools` fixture (tests/conftest.py is also a module named
    `conftest`, so `from conftest import ...` would be ambiguous)."""

    repo = REPO
    scene_classes = SCENE_CLASSES
    cli_env = staticmethod(cli_env)
    run_module = staticmethod(run_module)
    train_args = staticmethod(train_args)
    read_log = staticmethod(read_log)


@pytest.fixture(scope="session")
def tools() -> type[Tools]:
    return Tools


@pytest.fixture
def one_thread():
    """In-process runs use one thread, like the CLI subprocesses: 2 busy cores thrash with more."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
