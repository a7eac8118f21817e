"""Inputs: running the case table through the real server (`/analyze` via gradio_client)."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.app_harness import AppClient

from .common import (
    TRACEBACK,
    Result,
    free_port,
    good_png,
    short,
)
from .input_cases import INPUT_CASES, InputCase

# --- the client side -----------------------------------------------------------------------------------


def run_input_case(app: AppClient, case: InputCase, workdir: Path, good: Path) -> Result:
    """Run one case; after a refused one, a good request: the server must answer it (a bad input must not
    wedge it). After a case that works, its own answer shows the server is alive."""
    d = workdir / re.sub(r"[^A-Za-z0-9]+", "_", case.name).strip("_")
    d.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    image, label = case.make(d)
    problem, observed = None, ""
    try:
        out = app.analyze(image, label, case.alpha, case.channel)
    except Exception as exc:  # AppError (server said no) or ValueError (client refused before upload)
        message = str(exc)
        observed = f"error: {short(message)}"
        if case.error is None:
            problem = "failed"
        elif not re.search(case.error, message):
            problem = f"message does not match /{case.error}/"
        elif TRACEBACK.search(message):
            problem = "stack trace shown to the user"
    else:
        if case.error is not None:
            observed, problem = "accepted (no error)", "expected an error"
        else:
            try:
                problem = case.check(out) if case.check else None
            except Exception as exc:  # a missing output is a failure of the case, not of the report
                problem = f"check crashed: {type(exc).__name__}: {exc}"
            observed = "works" + (f" ({short(str(out.get('summary', '')).split(chr(10))[0], 60)})"
                                  if problem is None else "")
    seconds = time.perf_counter() - t0
    if observed.startswith("error"):
        try:  # the server must still serve
            after = app.analyze(good)
            alive = "Analysed" in str(after.get("summary", ""))
        except Exception as exc:
            alive = False
            observed += f"; then good request failed: {short(str(exc), 60)}"
        if not alive:
            problem = problem or "server did not answer a good request afterwards"
    if problem:
        observed = f"{observed} [{problem}]"
    return Result("inputs", case.name, case.expected, observed, problem is None, seconds)


@contextlib.contextmanager
def serve_inprocess(checkpoint: Path) -> Iterator[tuple[Any, str]]:
    """(demo, url): the real app (build_demo + launch_options) served in this process on 127.0.0.1."""
    from app.inference import Predictor
    from app.ui import build_demo, launch_options

    demo = build_demo(Predictor.from_checkpoint(checkpoint))
    port = free_port()
    try:
        demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True,
                    **launch_options())
        yield demo, f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def input_results(url: str, workdir: Path, cases: list[InputCase] | None = None) -> list[Result]:
    app = AppClient(url, workdir / "downloads")
    good = good_png(workdir, "alive_48x32.png", (48, 32), seed=7)
    return [run_input_case(app, c, workdir, good) for c in (cases if cases is not None else INPUT_CASES)]


