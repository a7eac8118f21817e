"""A dataset folder with a corrupt image and a wrong-size label: the training CLI stops naming the file;
on_error="skip" skips both with a warning each and counts them."""

from __future__ import annotations

import reliability_cases as rc


def test_bad_samples_end_to_end(tmp_path):
    results = rc.data_results(tmp_path)
    bad = [f"{r.case}: expected {r.expected}, observed {r.observed}" for r in results if not r.ok]
    assert not bad, "\n".join(bad)
