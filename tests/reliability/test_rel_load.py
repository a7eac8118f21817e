"""Light load on `python app.py` as a subprocess: concurrent clients all succeed, RSS stays under 3 GB and
does not grow across sequential analyses (the full figures come from `python -m benchmarks.reliability`)."""

from __future__ import annotations

import pytest

from benchmarks import reliability_cases as rc


@pytest.mark.slow
def test_light_load(rel_checkpoint, tmp_path):
    figures = rc.run_load(rel_checkpoint, tmp_path, clients=4, per_client=2, sequential=30, warmup=10)
    c, s = figures["concurrent"], figures["sequential"]
    assert c["failures"] == 0 and s["failures"] == 0, (c["failure_messages"], figures["server_errors"])
    assert c["rss_peak_mb"] < 3072 and s["rss_max_mb"] < 3072
    # 30 requests are too few for a precise slope; this only catches a gross leak (e.g. caching every image)
    assert s["slope_mb_per_100"] < 100, s["rss_series_mb"]
