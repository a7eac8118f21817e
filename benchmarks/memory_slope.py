"""Resident memory of the app server over many sequential analyses, with and without a malloc arena cap.

    .venv/bin/python -m benchmarks.memory_slope [--requests 400] [--arenas app|default|N]

Starts `python app.py` on a tiny random checkpoint (the cost of the network does not matter here),
sends `--requests` analyses of distinct 160x120 images through gradio_client one after another, and
prints RSS after the 20 warm-up requests, at the end, and the slope of a linear fit (MB per 100 requests)
over all requests after the warm-up and over the second half. `--arenas app` runs the launcher as
shipped (it caps glibc's malloc arenas at 2), `default` sets MALLOC_ARENA_MAX=0 (no cap: glibc's
default), a number sets MALLOC_ARENA_MAX to it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "reliability"))
import reliability_cases as rc  # noqa: E402  (the cases are test code: tests/reliability/reliability_cases/)

WARMUP = 20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--arenas", default="app", help="app (launcher default), default (glibc, no cap) or N")
    args = ap.parse_args()
    if args.arenas != "app":
        # MALLOC_ARENA_MAX=0 is glibc's "unset"; the launcher leaves any value that is set alone
        os.environ["MALLOC_ARENA_MAX"] = "0" if args.arenas == "default" else args.arenas
    work = Path(tempfile.mkdtemp(prefix="gald_memory_"))
    checkpoint = rc.make_checkpoint(work / "tiny")
    images = rc.load_images(work, args.requests + 1)
    with rc.AppProcess(checkpoint, work) as server:
        rc.AppClient(server.url, False).analyze(images[-1])  # lazy imports
        s = rc.sequential_memory(server, images[: args.requests], args.requests, WARMUP)
    series = np.asarray(s.pop("rss_series_mb"))
    half = args.requests // 2
    second = float(np.polyfit(np.arange(half, args.requests), series[half:], 1)[0]) * 100
    print(json.dumps({"arenas": args.arenas, **s, "slope_second_half_mb_per_100": round(second, 2)}, indent=1))
    print("RSS every 25 requests (MB):", [round(float(v)) for v in series[::25]])


if __name__ == "__main__":
    main()
