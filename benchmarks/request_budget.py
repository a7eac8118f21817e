"""Peak server memory and time per endpoint at the largest accepted upload and input scale (issue #22):
`python -m benchmarks.request_budget [--checkpoint CK] [--out FILE.json]`.

Starts `python app.py` (the bundled model by default) as a subprocess and, with a resident-memory sampler on
that process (20 ms), runs one user through every heavy endpoint on a MAX_SIDE x MAX_SIDE upload at the
largest scale, then two users at once (Integrated Gradients next to an analysis), then the hostile uploads
(an 88 MP PNG, a 40,000-page TIFF next to another user's analysis). Prints one row per request: peak RSS of
the server, its growth during the request, seconds, and the first line of the answer; the budget
(app/budget.py) is <= 3072 MB for any single request and <= 4096 MB for two users.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from app import DEFAULT_CHECKPOINT, budget
from benchmarks.app_harness import (
    BOMB_SIDE,
    REPO,
    TIFF_PAGES,
    AppClient,
    AppProcess,
    Peak,
    write_many_page_tiff,
    write_zero_png,
)


def largest_upload(workdir: Path) -> Path:
    """A bundled example frame stretched to MAX_SIDE x MAX_SIDE (the most pixels an analysis accepts)."""
    example = sorted(p for p in (REPO / "app" / "examples").glob("*.png") if not p.stem.endswith("_label"))[0]
    path = workdir / f"largest_{budget.MAX_SIDE}.png"
    Image.open(example).convert("RGB").resize((budget.MAX_SIDE, budget.MAX_SIDE), Image.Resampling.BICUBIC).save(path)
    return path


def measure(server: AppProcess, name: str, call) -> dict:
    with Peak(server) as peak:
        try:
            out = call()
            answer = next((str(v) for v in (out if isinstance(out, (list, tuple)) else [out])
                           if isinstance(v, str) and not v.endswith((".png", ".pdf"))), "ok")
        except Exception as exc:
            answer = f"error: {exc}"
    row = {"request": name, "peak_mb": round(peak.peak), "growth_mb": round(peak.delta),
           "seconds": round(peak.seconds, 1), "answer": " ".join(answer.split())[:150]}
    print(f"{row['request']:<46} peak {row['peak_mb']:>5} MB  +{row['growth_mb']:>5} MB  {row['seconds']:>6.1f} s  "
          f"{row['answer'][:90]}", flush=True)
    return row


def run(checkpoint: Path, workdir: Path) -> dict:
    from gradio_client import handle_file

    img = largest_upload(workdir)
    scale = budget.MAX_SCALE
    rows = []
    with AppProcess(checkpoint, workdir) as server:
        idle = server.rss_mb()
        a, b = AppClient(server.url, False).client, AppClient(server.url, False).client
        warm = workdir / "warm.png"
        Image.open(img).resize((64, 64)).save(warm)
        a.predict(handle_file(str(warm)), None, 0.6, 0, 1.0, api_name="/analyze")  # lazy imports
        after_first = server.rss_mb()
        print(f"server RSS idle {idle:.0f} MB, after a first small analysis {after_first:.0f} MB", flush=True)
        up = handle_file(str(img))
        rows.append(measure(server, f"/analyze {budget.MAX_SIDE}x{budget.MAX_SIDE} at scale {scale:g}",
                            lambda: a.predict(up, None, 0.6, 0, scale, api_name="/analyze")[0]))
        rows.append(measure(server, "/overlay", lambda: a.predict(0.3, api_name="/overlay")))
        rows.append(measure(server, "/channel", lambda: a.predict(5, api_name="/channel")))
        rows.append(measure(server, "/pixel", lambda: a.predict(500, 400, api_name="/pixel")))
        rows.append(measure(server, "/pixel_attribution (GradCAM, 3x3 cells)",
                            lambda: a.predict(500, 400, "gald", api_name="/pixel_attribution")))
        rows.append(measure(server, "/attribute GradCAM", lambda: a.predict("gald", "Car", "gradcam", 8,
                                                                            api_name="/attribute")))
        rows.append(measure(server, "/attribute Integrated Gradients, 8 steps",
                            lambda: a.predict("gald", "Car", "ig", 8, api_name="/attribute")))
        rows.append(measure(server, "/figure (Figure 5, PDF)", lambda: a.predict(api_name="/figure")))
        rows.append({"request": "server RSS after these", "peak_mb": round(server.rss_mb())})
        # two users at once: IG (32 steps, the most) for one while the other analyses the largest upload
        other = workdir / "other.png"
        Image.open(img).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(other)
        box: dict = {}

        def second_user() -> None:
            t = time.perf_counter()
            try:
                b.predict(handle_file(str(other)), None, 0.6, 0, scale, api_name="/analyze")
                box["b"] = f"analysis done in {time.perf_counter() - t:.1f} s"
            except Exception as exc:
                box["b"] = f"error: {exc}"

        def both():
            t = threading.Thread(target=second_user)
            t.start()
            try:
                return a.predict("gald", "Pedestrian", "ig", budget.MAX_IG_STEPS, api_name="/attribute")
            finally:
                t.join()

        rows.append(measure(server, f"two users: IG {budget.MAX_IG_STEPS} steps + /analyze", both))
        rows[-1]["second_user"] = box.get("b")
        print(f"{'':<46} second user: {box.get('b')}", flush=True)
        bomb = write_zero_png(workdir / "bomb.png", BOMB_SIDE, BOMB_SIDE)
        rows.append(measure(server, f"/analyze {BOMB_SIDE}x{BOMB_SIDE} PNG ({bomb.stat().st_size // 1024} KB)",
                            lambda: a.predict(handle_file(str(bomb)), None, 0.6, 0, 1.0, api_name="/analyze")))
        tiff = write_many_page_tiff(workdir / "pages.tif", TIFF_PAGES)
        rows.append(measure(server, f"/analyze TIFF with {TIFF_PAGES} pages",
                            lambda: a.predict(handle_file(str(tiff)), None, 0.6, 0, 1.0, api_name="/analyze")[0]))
        end = server.rss_mb()
    return {"checkpoint": str(checkpoint), "upload": f"{budget.MAX_SIDE}x{budget.MAX_SIDE}", "scale": scale,
            "rss_idle_mb": round(idle), "rss_after_first_mb": round(after_first), "rss_end_mb": round(end),
            "budget_single_mb": budget.MEMORY_SINGLE_REQUEST_MB, "budget_two_users_mb": budget.MEMORY_TWO_USERS_MB,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs visible, load average at start "
                       f"{os.getloadavg()[0]:.1f}", "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(REPO / DEFAULT_CHECKPOINT))
    parser.add_argument("--out", default=None, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="request_budget_") as tmp:
        figures = run(Path(args.checkpoint), Path(tmp))
    peaks = [r["peak_mb"] for r in figures["rows"] if "growth_mb" in r]
    single = max(r["peak_mb"] for r in figures["rows"] if "growth_mb" in r and not r["request"].startswith("two"))
    print(f"largest single-request peak {single} MB (budget {budget.MEMORY_SINGLE_REQUEST_MB}); "
          f"overall peak {max(peaks)} MB (two users: budget {budget.MEMORY_TWO_USERS_MB})")
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=1))
    ok = single <= budget.MEMORY_SINGLE_REQUEST_MB and max(peaks) <= budget.MEMORY_TWO_USERS_MB
    return 0 if ok else 1


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
