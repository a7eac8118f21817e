"""Shared pytest fixtures for GALD Studio.

Only cross-cutting fixtures live here: offline environment, torch threads/seed,
the headless Chromium browser (Playwright) and the screenshot artefacts folder.
"""

from __future__ import annotations

import os
from pathlib import Path

# Set before anything (gradio, huggingface_hub, datasets) is imported by a test module,
# so that no test touches the network.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

import pytest  # noqa: E402

TESTS_DIR = Path(__file__).resolve().parent
ARTIFACTS_DIR = TESTS_DIR / "artifacts"
CHROMIUM_PATH = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session", autouse=True)
def _torch_setup():
    """Two CPU threads (CI has 2 cores) and a fixed seed, once per session."""
    try:
        import torch
    except ImportError:  # torch-free test subsets still run
        yield
        return
    torch.set_num_threads(2)
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Folder for screenshots and other test outputs (git-ignored)."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS_DIR


@pytest.fixture(scope="session")
def chromium_browser():
    """Debian's headless Chromium driven by Playwright (sync API), shared by the session.

    Skips when /usr/bin/chromium is missing, unless GALD_REQUIRE_BROWSER=1 (set by
    .ci/run), in which case a missing browser is a failure.
    """
    if not os.path.exists(CHROMIUM_PATH):
        msg = (
            f"Chromium not found at {CHROMIUM_PATH}; install it with "
            "`apt-get install -y chromium` (Playwright's own browser download does not work here)"
        )
        if os.environ.get("GALD_REQUIRE_BROWSER") == "1":
            pytest.fail(msg + " [GALD_REQUIRE_BROWSER=1]", pytrace=False)
        pytest.skip(msg)

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM_PATH, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
