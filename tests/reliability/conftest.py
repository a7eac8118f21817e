"""Fixtures for the reliability tests: the cases (tests/reliability/reliability_cases/, one module per area,
shared with the report script `python -m benchmarks.reliability`), a tiny random checkpoint and the real
app served in-process."""

from __future__ import annotations

from pathlib import Path

import pytest
import reliability_cases as rc  # tests/reliability is on sys.path: pytest's prepend import mode


def known_bug(name: str) -> list[pytest.MarkDecorator]:
    """xfail(strict=True) for a reported bug: the test turns red once the bug is fixed, so the mark goes too."""
    reason = rc.KNOWN_BUGS.get(name)
    return [pytest.mark.xfail(reason=reason, strict=True)] if reason else []


@pytest.fixture(scope="session")
def rel_checkpoint(tmp_path_factory) -> Path:
    return rc.make_checkpoint(tmp_path_factory.mktemp("rel_ckpt") / "tiny")


@pytest.fixture(scope="session")
def rel_server(rel_checkpoint):
    """(demo, url) of build_demo(Predictor) launched with launch_options() on 127.0.0.1."""
    with rc.serve_inprocess(rel_checkpoint) as served:
        yield served


@pytest.fixture(scope="session")
def rel_app(rel_server, tmp_path_factory) -> rc.AppClient:
    return rc.AppClient(rel_server[1], tmp_path_factory.mktemp("rel_downloads"))
