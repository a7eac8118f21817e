"""Server hygiene: no server path is read on a client's behalf, nothing outside app/examples is served,
the upload limit is enforced by the server, no share link, a bounded queue."""

from __future__ import annotations

import reliability_cases as rc


def test_hygiene(rel_server, rel_checkpoint, tmp_path):
    results = rc.hygiene_results(rel_server[1], tmp_path, rel_checkpoint, rel_server[0])
    assert len(results) >= 10
    bad = [f"{r.case}: expected {r.expected}, observed {r.observed}" for r in results if not r.ok]
    assert not bad, "\n".join(bad)


def test_path_string_is_not_read(rel_app, tmp_path):
    """A plain path string for the image parameter is rejected by gradio's FileData validation."""
    secret = tmp_path / "secret.png"
    rc.good_png(tmp_path, "secret.png")
    for path in (str(secret), "/etc/passwd"):
        try:
            out = rel_app.analyze(path)
        except Exception as exc:
            assert "Analysed" not in str(exc)
        else:
            raise AssertionError(f"{path} was analysed: {out.get('summary')}")


def test_queue_is_bounded(rel_server):
    demo, _ = rel_server
    assert demo._queue.max_size and demo._queue.max_size == rc.queue_max_size()
    analyze = next(fn for fn in demo.fns.values() if fn.api_name == "analyze")
    assert analyze.concurrency_limit is not None  # the network never runs unbounded in parallel
