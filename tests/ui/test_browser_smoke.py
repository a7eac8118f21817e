"""Infrastructure smoke test: Playwright drives Debian's headless Chromium against a local page."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest

pytestmark = pytest.mark.browser

PAGE = """<!doctype html>
<html>
  <head><meta charset="utf-8"><title>GALD smoke</title></head>
  <body>
    <h1 id="title">GALD Studio smoke page</h1>
    <button id="btn" onclick="document.getElementById('out').textContent = 'clicked ' + (1 + 1)">Go</button>
    <p id="out">idle</p>
  </body>
</html>
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture()
def static_site(tmp_path):
    (tmp_path / "index.html").write_text(PAGE, encoding="utf-8")
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # port 0: a free port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_chromium_renders_local_page(chromium_browser, static_site, artifacts_dir):
    page = chromium_browser.new_page(viewport={"width": 800, "height": 600})
    try:
        page.goto(static_site, wait_until="load", timeout=30_000)
        assert page.title() == "GALD smoke"
        assert page.locator("#title").inner_text() == "GALD Studio smoke page"
        # JavaScript runs: the click handler updates the DOM.
        page.click("#btn")
        page.wait_for_function("document.getElementById('out').textContent === 'clicked 2'", timeout=10_000)

        shot = artifacts_dir / "browser_smoke.png"
        shot.unlink(missing_ok=True)
        page.screenshot(path=str(shot), full_page=True)
    finally:
        page.close()

    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 1000
