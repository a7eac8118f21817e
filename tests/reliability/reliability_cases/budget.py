"""Budget: hostile but well-formed requests against `python app.py` (a subprocess, so its memory is its own),
each measured by a resident-memory sampler on the server process and timed, each with a positive control
that shows the measurement would have caught the blow-up the case guards against (issue #22)."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.app_harness import (
    BOMB_SIDE,
    TIFF_PAGES,
    AppClient,
    AppProcess,
    Peak,
    child_peak,
    write_many_page_tiff,
    write_zero_png,
)

from .common import Result, good_png, short


def sampler_control() -> Result:
    """A child that holds 400 MB for 0.3 s: the sampler must see >= 350 MB of it."""
    peak = child_peak("import numpy as np, time; a = np.ones(400 * 2**20 // 8); time.sleep(0.3)")
    return Result("budget", "control: sampler sees a 400 MB, 0.3 s blip", ">= 350 MB seen",
                  f"{peak.delta:.0f} MB", peak.delta >= 350)


def _refused(fn, pattern: str) -> tuple[bool, str]:
    try:
        out = fn()
    except Exception as exc:
        return bool(re.search(pattern, str(exc))), f"error: {short(str(exc), 110)}"
    return False, f"accepted: {short(str(out), 60)}"


def bomb_case(server: AppProcess, app: AppClient, workdir: Path, limit_mb: float = 150) -> list[Result]:
    bomb = write_zero_png(workdir / "bomb88.png", BOMB_SIDE, BOMB_SIDE)
    with Peak(server) as peak:
        ok, observed = _refused(lambda: app.analyze(bomb), r"megapixels\); PNG images over \d+ megapixels are refused")
    control = child_peak(f"from PIL import Image; Image.open({str(bomb)!r}).convert('RGB')")
    return [Result("budget", f"{BOMB_SIDE}x{BOMB_SIDE} PNG ({bomb.stat().st_size // 1024} KB, 88 MP)",
                   f"refused from the header, server +< {limit_mb:g} MB", f"{observed}; +{peak.delta:.0f} MB, "
                   f"{peak.seconds:.1f} s", ok and peak.delta < limit_mb),
            Result("budget", "control: the same file decoded by Pillow", f">= {2 * limit_mb:g} MB seen",
                   f"+{control.delta:.0f} MB, {control.seconds:.1f} s", control.delta >= 2 * limit_mb)]


def many_pages_case(server: AppProcess, app: AppClient, other: AppClient, workdir: Path, good: Path,
                    slack_s: float = 1.0) -> list[Result]:
    """The many-page TIFF costs what an ordinary small image costs (its frames are not counted), and another
    user's analysis submitted at the same time waits at most for that one small analysis."""
    tiff = write_many_page_tiff(workdir / "pages.tif", TIFF_PAGES)
    latency: dict[str, float] = {}

    def run(name: str, client: AppClient, path: Path, expect: str) -> None:
        t = time.perf_counter()
        try:
            ok = expect in str(client.analyze(path).get("summary"))
        except Exception:
            ok = False
        latency[name] = time.perf_counter() - t if ok else float("inf")

    run("alone", other, good_png(workdir, "alone.png", seed=2), "Analysed")
    run("tiff alone", app, tiff, "more than one frame")
    threads = [threading.Thread(target=run, args=("tiff", app, write_many_page_tiff(workdir / "pages2.tif",
                                                                                     TIFF_PAGES + 1),
                                                  "more than one frame")),
               threading.Thread(target=run, args=("other", other, good_png(workdir, "other.png", seed=3), "Analysed"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tenth = write_many_page_tiff(workdir / "pages_tenth.tif", TIFF_PAGES // 10)
    control = child_peak(f"from PIL import Image; Image.open({str(tenth)!r}).n_frames")
    alone, tiff_alone = latency["alone"], latency["tiff alone"]
    # both are network-missing analyses of a 128x96 image: the TIFF may cost what the small PNG costs (x 1.5 for
    # a busy machine's noise) plus slack; counting its frames would add far more (the control)
    return [Result("budget", f"TIFF with {TIFF_PAGES} pages ({tiff.stat().st_size / 2**20:.1f} MB)",
                   f"analysed like a small image (< 1.5 x {alone:.2f} s + {slack_s:g} s), frames not counted",
                   f"{tiff_alone:.2f} s", tiff_alone < 1.5 * alone + slack_s),
            Result("budget", "another user's analysis submitted with such a TIFF",
                   f"waits for one small analysis at most (< 2.5 x {alone:.2f} s + {slack_s:g} s)",
                   f"{latency['other']:.2f} s (the TIFF: {latency['tiff']:.2f} s)",
                   max(latency["other"], latency["tiff"]) < 2.5 * alone + slack_s),
            Result("budget", f"control: Pillow counts the frames of {TIFF_PAGES // 10} pages",
                   "slower than the server's whole answer for all of them",
                   f"{control.seconds:.2f} s", control.seconds > tiff_alone)]


def attribution_case(server: AppProcess, app: AppClient, workdir: Path, limit_mb: float) -> list[Result]:
    """The largest upload side, then Integrated Gradients: run at the capped size, said so, memory bounded."""
    from gradio_client import handle_file

    from app import budget

    big = workdir / "big.png"
    side = int((budget.ATTRIBUTION_MAX_NET_PIXELS["ig"] * 1.3) ** 0.5)  # 30% over IG's cap at scale 1
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (side, side, 3), dtype=np.uint8)).save(big)
    client = app.client
    out = []
    with Peak(server) as peak:
        try:
            client.predict(handle_file(str(big)), None, 0.6, 0, 1.0, api_name="/analyze")
            _, text = client.predict("gald", "Road", "ig", 2, api_name="/attribute")
        except Exception as exc:
            text = f"error: {exc}"
    reduced = re.search(r"runs at <= [\d.]+ megapixels.*reduced to input scale", str(text)) is not None
    out.append(Result("budget", f"{side}x{side} upload, Integrated Gradients (2 steps)",
                      f"reduced to the IG cap and said so, server +< {limit_mb:g} MB",
                      f"{short(str(text), 90)}; +{peak.delta:.0f} MB, {peak.seconds:.1f} s",
                      reduced and peak.delta < limit_mb))
    return out


def body_cases(server: AppProcess, limit_mb: float = 60) -> list[Result]:
    """Request bodies beyond the JSON bound (declared or chunked) are refused before they are read."""
    import httpx

    from app import budget

    url = server.url.rstrip("/") + "/gradio_api/call/analyze"
    body = json.dumps({"data": ["x" * (5 * 2**20)]}).encode()
    out = []
    for name, content in (("5 MB JSON body", body), ("5 MB chunked body", (body[i:i + 65536]
                                                                          for i in range(0, len(body), 65536)))):
        with Peak(server) as peak:
            r = httpx.post(url, content=content, headers={"content-type": "application/json"}, timeout=60)
        out.append(Result("budget", name, f"HTTP 413 (bodies <= {budget.MAX_JSON_BODY_BYTES // 2**20} MB), "
                          f"server +< {limit_mb:g} MB", f"HTTP {r.status_code}; +{peak.delta:.0f} MB",
                          r.status_code == 413 and peak.delta < limit_mb))
    return out


def quota_case(server: AppProcess) -> Result:
    """One client uploading back to back: refused (429) once over its quota, with the wait in the message."""
    import httpx

    from app import budget

    blob = bytes(budget.MAX_UPLOAD_BYTES - 2**20)
    codes = []
    n = budget.CLIENT_UPLOAD_BYTES // len(blob) + 1
    with httpx.Client(timeout=60, headers={"x-forwarded-for": "203.0.113.7"}) as http:  # one client, behind
        for i in range(n):                                                                # the trusted proxy
            r = http.post(server.url.rstrip("/") + "/gradio_api/upload",
                          files={"files": (f"u{i}.png", blob, "image/png")})
            codes.append(r.status_code)
    message = r.json().get("detail", "") if r.status_code == 429 else ""
    ok = codes[:-1] == [200] * (n - 1) and codes[-1] == 429 and "try again in" in message
    return Result("budget", f"{n} uploads of {len(blob) // 2**20} MB from one client",
                  f"first {n - 1} stored, then 429 (quota {budget.CLIENT_UPLOAD_BYTES // 2**20} MB per "
                  f"{budget.CLIENT_UPLOAD_WINDOW_S // 60} min)", f"{codes}; {short(message, 70)}", ok)


def raw_call(url: str, api: str, body: str, timeout: float = 60) -> str:
    """POST a hand-written JSON body (JSON has no NaN / Infinity, so gradio_client will not send them; Python's
    parser on the server accepts them) to /gradio_api/call/<api>; the event stream's text."""
    import httpx

    base = url.rstrip("/") + "/gradio_api"
    r = httpx.post(f"{base}/call/{api}", content=body, headers={"content-type": "application/json"}, timeout=timeout)
    if r.status_code != 200:
        return f"HTTP {r.status_code}: {r.text}"
    with httpx.stream("GET", f"{base}/call/{api}/{r.json()['event_id']}", timeout=timeout) as stream:
        return "".join(stream.iter_text())


def argument_cases(server: AppProcess, app: AppClient, good: Path) -> list[Result]:
    """Huge, non-finite and textual numbers: each error names the argument and the reason."""
    from gradio_client import handle_file

    c = app.client
    c.predict(handle_file(str(good)), None, 0.6, 0, 1.0, api_name="/analyze")
    session = json.dumps(c.session_hash)

    def raw(api: str, data: str):
        def call():
            text = raw_call(server.url, api, f'{{"data": {data}, "session_hash": {session}}}')
            if "event: error" not in text:
                return text
            raise RuntimeError(text)
        return call

    cases = [("analyze scale=10**400", lambda: c.predict(handle_file(str(good)), None, 0.6, 0, 10**400,
                                                         api_name="/analyze"), r"input scale must be between"),
             ("analyze channel=1e300", lambda: c.predict(handle_file(str(good)), None, 0.6, 1e300, 1.0,
                                                        api_name="/analyze"), r"mask channel must be between"),
             ("pixel x=NaN", raw("pixel", "[NaN, 3]"), r"x \(column\) must be a finite"),
             ("pixel y=Infinity", raw("pixel", "[3, Infinity]"), r"y \(row\) must be a finite"),
             ("pixel x='left'", lambda: c.predict("left", 3, api_name="/pixel"), r"x \(column\) must be a number"),
             ("attribute steps='many'", lambda: c.predict("gald", "Road", "ig", "many", api_name="/attribute"),
              r"IG steps must be an integer"),
             ("attribute steps=NaN", raw("attribute", '["gald", "Road", "ig", NaN]'), r"IG steps must be a finite"),
             ("attribute steps=10**30", lambda: c.predict("gald", "Road", "ig", 10**30, api_name="/attribute"),
              r"IG steps must be between 2 and \d+, got a 31-digit integer")]
    out = []
    for name, call, pattern in cases:
        ok, observed = _refused(call, pattern)
        out.append(Result("budget", name, f"error /{pattern}/", observed, ok and "OverflowError" not in observed))
    return out


def path_refusal_case(server: AppProcess) -> Result:
    """A FileData path outside the upload cache: refused with the reason, one log line, no traceback."""
    before = server.log_path.read_text(errors="replace")
    text = raw_call(server.url, "analyze", json.dumps({"data": [{"path": "/etc/passwd", "meta": {
        "_type": "gradio.FileData"}}, None, 0.6, 0, None]}))
    kind = m.group(1) if (m := re.search(r"event: (\w+)", text)) else "?"
    time.sleep(0.5)
    log = server.log_path.read_text(errors="replace")[len(before):]
    lines = [line for line in log.splitlines() if line.strip()]
    ok = kind == "error" and "not uploaded by a user" in text and "Traceback" not in log and len(lines) == 1
    return Result("budget", "analyze(FileData path=/etc/passwd)", "error naming the reason; one log line",
                  f"event {kind}; {len(lines)} log line(s): {short(' | '.join(lines), 90)}", ok)


class BudgetServer:
    """`python app.py` for the budget cases (behind a "trusted proxy", so the quota case can name its client),
    with a stale scratch folder of a dead process planted before it starts."""

    def __init__(self, checkpoint: Path, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.stale = workdir / "server_tmp" / "gald_studio" / "999999999-stale"  # no such pid
        (self.stale / "png").mkdir(parents=True, exist_ok=True)
        self.server = AppProcess(checkpoint, workdir, env={"GALD_TRUSTED_PROXY": "1"})
        self.app, self.other = AppClient(self.server.url, False), AppClient(self.server.url, False)
        self.good = good_png(workdir, "good.png", (48, 32), seed=7)
        self.app.analyze(self.good)  # the first request pays lazy imports

    def close(self) -> None:
        self.server.close()

    def results(self) -> list[Result]:
        """Every fast case (everything but the attribution case)."""
        s, w = self.server, self.workdir
        results = [sampler_control(),
                   Result("budget", "stale scratch folder of a dead process", "removed at start",
                          "gone" if not self.stale.exists() else "still there", not self.stale.exists())]
        results += bomb_case(s, self.app, w)
        results += many_pages_case(s, self.app, self.other, w, self.good)
        results += body_cases(s)
        results.append(path_refusal_case(s))
        results += argument_cases(s, self.app, self.good)
        results.append(quota_case(s))
        return results

    def shutdown_result(self) -> Result:
        """Stop the server (SIGINT, as Ctrl-C): its scratch folder must be gone."""
        root = self.server.tmp / "gald_studio"
        during = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
        self.close()
        left = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
        return Result("budget", "the app's scratch folder at shutdown (SIGINT)", "removed",
                      f"during: {during}; after: {left}", bool(during) and not left)


def budget_results(checkpoint: Path, workdir: Path, *, attribution_limit_mb: float = 2048) -> list[Result]:
    """Every case against one `python app.py` process, then its shutdown (for the report script)."""
    bs = BudgetServer(checkpoint, workdir)
    try:
        results = bs.results()
        results += attribution_case(bs.server, bs.app, workdir, attribution_limit_mb)
        results.append(bs.shutdown_result())
    finally:
        bs.close()
    return results
