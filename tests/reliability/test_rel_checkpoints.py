"""Unsafe or broken checkpoints are refused with gald.CheckpointError and nothing in them is executed."""

from __future__ import annotations

import pytest
import reliability_cases as rc
from conftest import known_bug


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=known_bug(c.name)) for c in rc.CHECKPOINT_CASES])
def test_checkpoint_case(case: rc.CheckpointCase, tmp_path):
    result = rc.run_checkpoint_case(case, tmp_path)
    assert result.ok, result.observed


def test_payload_marker_works(tmp_path):
    """Guard against a vacuous pass: unpickling the payload really does create the marker file."""
    import pickle

    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(rc.Payload(str(marker)))).close()
    assert marker.exists()


@pytest.mark.slow
def test_app_refuses_pickle_checkpoint(tmp_path):
    result = rc.app_refuses_checkpoint(tmp_path)
    assert result.ok, result.observed
