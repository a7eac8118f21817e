"""Malformed uploads and parameters through the real server (gradio_client -> /analyze): each one gets a
specific error without a stack trace, or works and the result is checked; the server keeps serving."""

from __future__ import annotations

import pytest
import reliability_cases as rc
from conftest import known_bug


def test_matrix_is_large_enough():
    errors = [c for c in rc.INPUT_CASES if c.error]
    works = [c for c in rc.INPUT_CASES if c.check]
    assert len(rc.INPUT_CASES) >= 25 and len(errors) >= 15 and len(works) >= 10
    assert len({c.name for c in rc.INPUT_CASES}) == len(rc.INPUT_CASES)
    # every refusal names the error it expects: no catch-all patterns that any failure would satisfy
    vague = [c.name for c in errors if len(c.error.replace("\\", "")) < 10 or c.error.strip(".*^$ ") == ""]
    assert not vague, vague


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return rc.good_png(tmp_path_factory.mktemp("good"), "alive.png", (48, 32), seed=7)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=[*known_bug(c.name),
                                                                  *([pytest.mark.slow] if c.slow else [])])
                                  for c in rc.INPUT_CASES])
def test_input_case(case: rc.InputCase, rel_app, good, tmp_path):
    result = rc.run_input_case(rel_app, case, tmp_path, good)
    assert result.ok, result.observed
