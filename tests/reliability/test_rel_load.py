"""Load on `python app.py` as a subprocess with the bundled checkpoint at CamVid's 360x480: 16 concurrent
clients x 5 analyses all succeed (p50 / p95 printed), a burst beyond the queue limit gets the queue-full
answer and the server serves normally afterwards, and resident memory does not grow across 200 sequential
analyses (slope < 25 MB per 100 requests). `python -m benchmarks.reliability` records the same figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import reliability_cases as rc

BUNDLED = Path(__file__).resolve().parents[2] / "checkpoints" / "galdnet_lite2_camvid"


@pytest.mark.slow
def test_load_with_the_bundled_model(tmp_path, artifacts_dir):
    queue = rc.queue_max_size()
    figures = rc.run_load(BUNDLED, tmp_path, clients=16, per_client=5, sequential=200, warmup=20,
                          burst_n=queue + 12, image_size=(480, 360))
    (artifacts_dir / "load_bundled_model.json").write_text(json.dumps(figures, indent=1))  # kept for RESULTS
    c, s, b = figures["concurrent"], figures["sequential"], figures["burst"]
    print(f"\n16 clients x 5 analyses at 480x360: p50 {c['p50_s']} s, p95 {c['p95_s']} s; burst {b}; "
          f"sequential slope {s['slope_mb_per_100']:+.1f} MB / 100 requests")
    assert c["failures"] == 0 and s["failures"] == 0, (c["failure_messages"], figures["server_errors"])
    assert c["requests"] == 80 and c["rss_peak_mb"] < 3072 and s["rss_max_mb"] < 3072
    assert b["refused_queue_full"] > 0 and not b["other_errors"], b
    assert b["completed"] + b["refused_queue_full"] == b["submitted"] and b["after_burst_ok"], b
    # growth is what a leak looks like (RSS handed back after the concurrent phase gives a negative slope). The
    # handler trims the heap after each analysis (app/memory.py); without that, glibc's retained ~30 MB buffers
    # made this slope swing between -45 and +48 from run to run with no leak behind it
    assert s["slope_mb_per_100"] < 25, s["rss_series_mb"]
