"""GALD Studio speed as a user sees it: headless Chromium clicks Analyze and waits for the pictures.

    .venv/bin/python -m benchmarks.browser_speed [--frames 12] [--scales default,1.0] [--root REPO]
                                                 [--checkpoint PATH] [--client-runs 12] [--json OUT]
                                                 [--against OTHER_REPO]

Serves `app.py` of --root (default: this repository; pass another checkout to measure its code) in a
subprocess, opens it in Debian's Chromium (/usr/bin/chromium, Playwright), and for each of `--frames`
CamVid val frames (image + ground truth, each frame new to the app's caches; a disjoint set per scale)
uploads, clicks Analyze and times, from the click, in the page's own clock:
  (a) stages: the five stage pictures (input, FCN, GA, GALD, ground truth) show the new analysis, decoded;
  (b) everything: every <img> and plot the click produces is on the page, decoded, and no event is pending
      (the time of the last change, after the page has been still for a second).
Then `--client-runs` frames through gradio_client's `/analyze` with file downloads on (what an API user
waits for: the answer and every file it names; 24 files), and as many through `/segment` (the prediction PNG
only). Prints p50 / p90 per figure and the load average.
With `--against OTHER_REPO` both apps are served at once and every frame is measured on both, back to back
(the order alternating), so a comparison of two versions shares the machine's load; it prints each app's
figures and the per-frame ratio (this / other).
Targets (2-core CPU, default scale): stages <= 0.6 s p50, everything <= 1.2 s p50, API <= 0.8 s p50.
Pool: frames x (scales + 2) + (scales + 2) val frames are needed (101 in CamVid val: --frames <= 16).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VAL = Path(os.environ.get("GALD_CAMVID", "/work/shared/data/camvid"))
CHROMIUM = "/usr/bin/chromium"
STAGE_IDS = ["gald-stage-input", "gald-stage-fcn", "gald-stage-ga", "gald-stage-gald", "gald-stage-gt"]
TARGETS = {"stages": 0.6, "everything": 1.2, "api": 0.8}
STILL_MS = 1000  # "everything" ends at the last change once the page has not changed for this long

# Runs in the page: click Analyze, then poll every animation frame. Returns milliseconds from the click.
MEASURE_JS = """
async ([stageIds, stillMs, timeoutMs]) => {
  const srcOf = id => { const i = document.querySelector('#' + id + ' img'); return i ? i.src : null; };
  const before = stageIds.map(srcOf);
  const ready = i => i.complete && i.naturalWidth > 0;
  const pending = () => document.querySelectorAll('.eta-bar, .progress-text, .generating, .pending').length;
  const signature = () => {
    const imgs = [...document.querySelectorAll('img')];
    const plots = document.querySelectorAll('.js-plotly-plot .main-svg').length;
    return imgs.map(i => i.src + (ready(i) ? '+' : '-')).join('|') + '#' + plots + '#' + pending();
  };
  const t0 = performance.now();
  document.querySelector('#gald-analyze').click();
  let stages = null, last = t0, sig = signature();
  while (true) {
    await new Promise(r => requestAnimationFrame(r));
    const now = performance.now();
    if (stages === null) {
      const ok = stageIds.every((id, k) => {
        const i = document.querySelector('#' + id + ' img');
        return i && i.src !== before[k] && ready(i);
      });
      if (ok) stages = now - t0;
    }
    const s = signature();
    if (s !== sig) { sig = s; last = now; }
    const allReady = [...document.querySelectorAll('img')].every(ready);
    if (stages !== null && allReady && pending() === 0 && now - last > stillMs) {
      return {stages, everything: last - t0, images: document.querySelectorAll('img').length};
    }
    if (now - t0 > timeoutMs) return {stages, everything: null, timeout: true};
  }
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: Path, checkpoint: str | None, port: int, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADIO_")}
    env.update(GRADIO_ANALYTICS_ENABLED="False", GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port),
               PYTHONUNBUFFERED="1")
    cmd = [sys.executable, str(root / "app.py")] + (["--checkpoint", checkpoint] if checkpoint else [])
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    t0 = time.perf_counter()
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                return proc
        except OSError:
            if proc.poll() is not None or time.perf_counter() - t0 > 180:
                proc.kill()
                raise SystemExit(f"app.py did not start; its log:\n{log.read_text()}") from None
            time.sleep(0.25)


def frames(n: int, skip: int) -> list[tuple[Path, Path]]:
    names = sorted((VAL / "val").glob("*.png"))
    if len(names) < skip + n:
        raise SystemExit(f"need {skip + n} val frames in {VAL / 'val'}, found {len(names)}")
    step = len(names) // (skip + n)  # spread over the sequence: neighbouring frames are near-duplicates
    chosen = names[::step][skip: skip + n]
    return [(p, VAL / "valannot" / p.name) for p in chosen]


def upload(page, image: Path, label: Path) -> None:
    for elem, path in (("gald-image-upload", image), ("gald-label-upload", label)):
        clear = page.locator(f"#{elem} button[aria-label='Clear']")
        if clear.count():
            clear.first.click()
        page.locator(f"#{elem} input[type=file]").set_input_files(str(path))
        page.locator(f"#{elem} td.filename[aria-label='{path.name}']").wait_for(timeout=60_000)


def set_scale(page, scale: float) -> None:
    number = page.locator("#gald-scale input[type=number]")
    number.fill(f"{scale:g}")
    number.press("Enter")


def browser_runs(urls: list[str], scale: float | None, todo: list[tuple[Path, Path]], warm: tuple[Path, Path]
                 ) -> list[list[dict]]:
    """Per app (url): one measurement per frame; with several apps each frame runs on all, back to back."""
    from playwright.sync_api import sync_playwright

    out: list[list[dict]] = [[] for _ in urls]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        pages = [browser.new_page(viewport={"width": 1440, "height": 1000}) for _ in urls]
        for page, url in zip(pages, urls, strict=True):
            page.goto(url, wait_until="load", timeout=120_000)
            page.locator("#gald-analyze").wait_for(timeout=120_000)
            if scale is not None:
                set_scale(page, scale)
        for i, (image, label) in enumerate([warm, *todo]):
            order = list(range(len(urls)))[:: 1 if i % 2 else -1]  # alternate who goes first
            for k in order:
                upload(pages[k], image, label)
                pages[k].wait_for_timeout(300)  # let the upload's own events settle
                r = pages[k].evaluate(MEASURE_JS, [STAGE_IDS, STILL_MS, 120_000])
                if i == 0:
                    continue  # warm-up: first paint of the page's components, font loading
                r["frame"] = image.name
                out[k].append(r)
                print(f"    {'ab'[k] if len(urls) > 1 else ''} {image.name}: stages {r['stages']:.0f} ms, "
                      f"everything {r['everything']:.0f} ms ({r['images']} images)", flush=True)
        browser.close()
    return out


def client_runs(url: str, todo: list[tuple[Path, Path]], warm: tuple[Path, Path], endpoint: str = "/analyze"
                ) -> list[float]:
    """Seconds per call of `endpoint` (/analyze: image + ground truth, every output; /segment: the image, the
    prediction PNG), each with gradio_client's file downloads on."""
    from gradio_client import Client, handle_file

    folder = tempfile.mkdtemp(prefix="gald_client_")
    client = Client(url, verbose=False, download_files=folder)
    seconds = []
    for i, (image, label) in enumerate([warm, *todo]):
        t = time.perf_counter()
        if endpoint == "/segment":
            client.predict(handle_file(str(image)), None, api_name=endpoint)
        else:
            client.predict(handle_file(str(image)), handle_file(str(label)), api_name=endpoint)
        if i:
            seconds.append(time.perf_counter() - t)
    return seconds


def summary(name: str, seconds: list[float], target: float | None, unit: str = "s") -> dict:
    p50, p90 = float(np.percentile(seconds, 50)), float(np.percentile(seconds, 90))
    verdict = "" if target is None else ("  OK" if p50 <= target else f"  OVER target {target:g} s")
    print(f"  {name:<55s} p50 {p50:6.3f} {unit}   p90 {p90:6.3f} {unit}   min {min(seconds):6.3f}   max "
          f"{max(seconds):6.3f}   (n={len(seconds)}){verdict}", flush=True)
    return {"p50": p50, "p90": p90, "min": min(seconds), "max": max(seconds), "n": len(seconds)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(ROOT), help="repository whose app.py is served (default: this one)")
    ap.add_argument("--checkpoint", default=None, help="passed to app.py (default: its default checkpoint)")
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--scales", default="default,1.0", help="comma list; 'default' = the checkpoint's scale")
    ap.add_argument("--client-runs", type=int, default=12, help="gradio_client /analyze calls (0: skip)")
    ap.add_argument("--json", default=None, help="write the figures here")
    ap.add_argument("--against", default=None, help="another checkout served beside --root, measured frame by frame")
    args = ap.parse_args()

    scales = [None if s == "default" else float(s) for s in args.scales.split(",")]
    sets = len(scales) + (2 if args.client_runs else 0)  # disjoint frames per scale, /analyze and /segment
    pool = frames(args.frames * sets + sets, 0)
    root = Path(args.root).resolve()
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="gald_browser_")) / "app0.log"
    load0 = os.getloadavg()
    print(f"GALD Studio in Chromium | app a: {root}" + (f", b: {args.against}" if args.against else "")
          + f" | {os.cpu_count()} cores | load {load0[0]:.2f} {load0[1]:.2f} "
          f"at start", flush=True)
    roots = [root] + ([Path(args.against).resolve()] if args.against else [])
    servers, urls = [], []
    for k, r in enumerate(roots):
        port = port if k == 0 else free_port()
        servers.append(start_server(r, args.checkpoint, port, log.with_name(f"app{k}.log")))
        urls.append(f"http://127.0.0.1:{port}/")
    results: dict = {"roots": [str(r) for r in roots], "load_start": load0[:2], "cores": os.cpu_count()}
    try:
        print("  " + log.with_name("app0.log").read_text().strip().splitlines()[0], flush=True)
        chunk = args.frames + 1
        for k, scale in enumerate(scales):
            part = pool[k * chunk: (k + 1) * chunk]
            name = "default" if scale is None else f"{scale:g}"
            print(f"  scale {name}:", flush=True)
            per_app = browser_runs(urls, scale, part[1:], part[0])
            for which, runs in zip("ab", per_app, strict=False):
                tag = f"{'' if len(roots) == 1 else which + ': '}browser, scale {name}"
                results[f"{which}_scale_{name}"] = {
                    "runs": runs,
                    "stages": summary(f"{tag}: (a) stage pictures on screen", [r["stages"] / 1000 for r in runs],
                                      TARGETS["stages"] if scale is None else None),
                    "everything": summary(f"{tag}: (b) every picture on screen",
                                          [r["everything"] / 1000 for r in runs if r["everything"] is not None],
                                          TARGETS["everything"] if scale is None else None)}
            if len(roots) > 1:
                for what in ("stages", "everything"):
                    ratios = [x[what] / y[what] for x, y in zip(*per_app, strict=True) if x[what] and y[what]]
                    results[f"ratio_scale_{name}_{what}"] = summary(f"a / b per frame, scale {name}: {what}",
                                                                    ratios, None, unit="x")
        for k, endpoint in enumerate(("/analyze", "/segment") if args.client_runs else ()):
            part = pool[(len(scales) + k) * chunk:][: args.client_runs + 1]
            for which, url in zip("ab", urls, strict=False):
                tag = "" if len(roots) == 1 else which + ": "
                try:
                    seconds = client_runs(url, part[1:], part[0], endpoint)
                except ValueError as exc:  # an older app without this endpoint
                    print(f"  {tag}{endpoint}: {exc}", flush=True)
                    continue
                results[f"{which}_api{endpoint.replace('/', '_')}"] = summary(
                    f"{tag}gradio_client {endpoint}, downloads on, default scale", seconds, TARGETS["api"])
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
    results["load_end"] = os.getloadavg()[:2]
    print(f"  load {results['load_end'][0]:.2f} {results['load_end'][1]:.2f} at the end (2 cores shared: above "
          "~0.5 the figures are pessimistic)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
