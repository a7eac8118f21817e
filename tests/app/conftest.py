"""Fixtures for the app tests: a tiny random GALDNet checkpoint (no trained weights, no dataset),
small 96x128 crops of the bundled examples, a Predictor, and an in-process Gradio server."""

from __future__ import annotations

from pathlib import Path

import app_helpers  # tests/app is on sys.path (pytest prepend import mode)
import numpy as np
import pytest
from app_helpers import make_checkpoint, small_example
from PIL import Image


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.fixture(scope="session")
def predictor(checkpoint):
    from app.inference import Predictor

    return Predictor.from_checkpoint(checkpoint)


@pytest.fixture(scope="session")
def example_files(tmp_path_factory) -> tuple[Path, Path]:
    return small_example(tmp_path_factory.mktemp("examples"))


@pytest.fixture()
def rgb(example_files) -> np.ndarray:
    return np.asarray(Image.open(example_files[0]).convert("RGB"))


@pytest.fixture(scope="session")
def server(predictor):
    """(url, predictor): the app served in-process on a free port, closed at the end of the session."""
    from app.ui import build_demo, launch_options

    demo = build_demo(predictor)
    port = app_helpers.free_port()
    try:
        demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                    **launch_options())
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
