"""Crash-safe training: kill -9 at three seeded random moments + --resume reproduces the uninterrupted run
bit for bit, best/last always load; a NaN loss stops the run with a message and an intact last checkpoint."""

from __future__ import annotations

import pytest
import reliability_cases as rc


@pytest.mark.slow
def test_kill_and_resume_matches_uninterrupted_run(tmp_path):
    results, figures = rc.crash_resume(tmp_path, iters=5, kills=3, seed=0, batch=2)
    bad = [f"{r.case}: expected {r.expected}, observed {r.observed}" for r in results if not r.ok]
    assert not bad, "\n".join(bad) + f"\n{figures}"
    assert len(figures["kills"]) == 3 and figures["resumes"] >= 3


@pytest.mark.slow
def test_nan_loss_stops_with_intact_checkpoint(tmp_path):
    result = rc.nan_stop(tmp_path, iters=3, nan_step=2, batch=2)
    assert result.ok, result.observed


@pytest.mark.slow
def test_kill_between_step_and_validation_still_validates(tmp_path):
    result = rc.kill_during_validation(tmp_path, iters=2, eval_every=2, batch=2)
    assert result.ok, result.observed  # an inconclusive case (the kill never landed in time) fails too
