"""Server-side limits below the event handlers (numbers in app/budget.py):

* every request body is bounded: file uploads (`.../upload`) must declare a Content-Length of at most one
  upload plus form overhead, and count against a per-client quota (CLIENT_UPLOAD_BYTES per
  CLIENT_UPLOAD_WINDOW_S; 429 beyond it); any other body (API calls: numbers and short strings) at most
  MAX_JSON_BODY_BYTES (413), read into memory only up to that bound;
* gradio's upload cache and the app's scratch folder stay within CACHE_DISK_BYTES: as soon as the uploads since
  the last check could have passed it, and every PRUNE_INTERVAL_S otherwise, the oldest files are deleted
  until the total is 80% of the budget;
* a file path that gradio refuses (not uploaded by a user, blocked) is one log line and a message naming the
  reason, not a 25-line traceback.

`launch_limits()` returns the `demo.launch` keyword arguments that install all of this.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

from . import budget, scratch

log = logging.getLogger(__name__)
UPLOAD_OVERHEAD_BYTES = 1 * budget.MB  # multipart headers and boundaries around one file
PRUNE_INTERVAL_S = 30.0
PRUNE_TO = 0.8  # prune down to this share of the budget, so that pruning does not run on every upload


# --- per-client upload quota ----------------------------------------------------------------------------
class UploadQuota:
    """Bytes uploaded per client in a sliding window."""

    def __init__(self, limit: int = budget.CLIENT_UPLOAD_BYTES, window: float = budget.CLIENT_UPLOAD_WINDOW_S):
        self.limit, self.window = limit, window
        self._log: dict[str, deque[tuple[float, int]]] = defaultdict(deque)
        self._lock = threading.Lock()

    def take(self, client: str, nbytes: int, now: float | None = None) -> float:
        """Record `nbytes` for `client` and return 0, or return the seconds until it would fit (nothing recorded)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            entries = self._log[client]
            while entries and entries[0][0] <= now - self.window:
                entries.popleft()
            used = sum(n for _, n in entries)
            if used + nbytes > self.limit:
                freed, wait = used + nbytes - self.limit, 0.0
                for t, n in entries:  # wait until enough old uploads leave the window
                    freed -= n
                    wait = t + self.window - now
                    if freed <= 0:
                        break
                return max(wait, 1.0)
            entries.append((now, nbytes))
            if len(self._log) > 10_000:  # forget idle clients
                for key in [k for k, v in self._log.items() if not v]:
                    del self._log[key]
            return 0.0


# --- disk budget ----------------------------------------------------------------------------------------
def cache_roots() -> list[Path]:
    from gradio.utils import get_upload_folder

    return [Path(get_upload_folder()), scratch.root()]


def prune(roots: list[Path], limit: int = budget.CACHE_DISK_BYTES, target: float = PRUNE_TO) -> dict[str, int]:
    """Delete the oldest files under `roots` until they total <= target x limit (only if over `limit`)."""
    files = []
    for r in roots:
        for dirpath, _, names in os.walk(r):
            for name in names:
                p = os.path.join(dirpath, name)
                with contextlib.suppress(OSError):
                    st = os.stat(p)
                    files.append((st.st_mtime, st.st_size, p))
    total = sum(size for _, size, _ in files)
    removed = 0
    if total > limit:
        for _, size, path in sorted(files):
            if total <= target * limit:
                break
            with contextlib.suppress(OSError):
                os.unlink(path)
                total -= size
                removed += 1
                with contextlib.suppress(OSError):
                    os.rmdir(os.path.dirname(path))  # gradio keeps one folder per upload
    return {"files": len(files), "removed": removed, "bytes": total}


class _Pruner:
    """Runs `prune` in a thread: at most every PRUNE_INTERVAL_S, or at once when the uploads since the last walk
    could have taken the caches over the budget. The walk holds the GIL for ~0.15 s per 3,000 files, so it is
    not run after every upload (it would land on the analysis that follows the upload)."""

    def __init__(self, limit: int = budget.CACHE_DISK_BYTES) -> None:
        self.last, self._busy, self.limit = 0.0, threading.Lock(), limit
        self.estimate = 0  # bytes under the cache roots: the last walk's total plus uploads since

    def maybe(self, uploaded: int = 0) -> None:
        self.estimate += uploaded
        due = self.estimate > self.limit or time.monotonic() - self.last >= PRUNE_INTERVAL_S
        if due and self._busy.acquire(blocking=False):
            self.last = time.monotonic()
            threading.Thread(target=self._run, daemon=True, name="gald-prune").start()

    def _run(self) -> None:
        try:
            out = prune(cache_roots(), self.limit)
            self.estimate = out["bytes"]
            if out["removed"]:
                log.info("disk budget: removed %d old cache files, %d MB left", out["removed"],
                         out["bytes"] // budget.MB)
        except Exception as exc:  # pruning must never take a request down
            log.warning("disk budget: pruning failed: %s", exc)
        finally:
            self._busy.release()


# --- the ASGI middleware --------------------------------------------------------------------------------
def trusts_proxy() -> bool:
    """Behind a proxy (Hugging Face Spaces sets SPACE_ID; elsewhere set GALD_TRUSTED_PROXY=1) every peer is the
    proxy, so clients are told apart by X-Forwarded-For; without one that header is the client's to forge."""
    return bool(os.environ.get("SPACE_ID") or os.environ.get("GALD_TRUSTED_PROXY"))


def client_id(scope: dict[str, Any]) -> str:
    """The client's address: the first X-Forwarded-For hop behind a trusted proxy, else the peer."""
    if trusts_proxy():
        for key, value in scope.get("headers") or []:
            if key == b"x-forwarded-for":
                return value.decode("latin-1").split(",")[0].strip()
    client = scope.get("client")
    return client[0] if client else "unknown"


async def _refuse(send, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    """Pure ASGI middleware (installed through launch's app_kwargs): body bounds, upload quota, disk budget."""

    def __init__(self, app, quota: UploadQuota | None = None) -> None:
        self.app, self.quota, self.pruner = app, quota or UploadQuota(), _Pruner()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        declared = int(length) if length and length.isdigit() else None
        if scope["path"].rstrip("/").endswith("/upload"):
            limit = budget.MAX_UPLOAD_BYTES + UPLOAD_OVERHEAD_BYTES
            if declared is None:
                return await _refuse(send, 411, "an upload must declare its Content-Length")
            if declared > limit:
                return await _refuse(send, 413, f"an upload may be at most {budget.MAX_UPLOAD_BYTES // budget.MB} MB")
            wait = self.quota.take(client_id(scope), declared)
            if wait:
                return await _refuse(send, 429, f"upload quota reached: {budget.CLIENT_UPLOAD_BYTES // budget.MB} MB "
                                     f"per client per {budget.CLIENT_UPLOAD_WINDOW_S // 60:g} minutes; try again in "
                                     f"{wait:.0f} s", [(b"retry-after", str(int(wait) + 1).encode())])
            await self.app(scope, receive, send)
            self.pruner.maybe(uploaded=declared)
            return None
        limit = budget.MAX_JSON_BODY_BYTES
        if declared is not None and declared > limit:
            return await _refuse(send, 413, f"request body of {declared} bytes; at most {limit} are accepted "
                                 "(files go through /upload)")
        # no (or a small) declared length: read the body up to the bound, then replay it to the app
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > limit:
                return await _refuse(send, 413, f"request body over {limit} bytes (files go through /upload)")
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
        self.pruner.maybe()
        return None


# --- quiet refusal of file paths ------------------------------------------------------------------------
_installed = False


def quiet_path_refusals() -> None:
    """Gradio's file-path check raises InvalidPathError, which its queue prints as a full traceback; turn it
    into a gr.Error that names the reason (no traceback) and log one line."""
    global _installed
    if _installed:
        return
    import gradio as gr
    from gradio import processing_utils
    from gradio.exceptions import InvalidPathError

    original = processing_utils._check_allowed

    def check_allowed(*args: Any, **kwargs: Any) -> Any:
        try:
            return original(*args, **kwargs)
        except InvalidPathError as exc:
            log.warning("refused a file path: %s", exc)
            raise gr.Error(str(exc), title="File refused", print_exception=False) from None

    processing_utils._check_allowed = check_allowed
    _installed = True


def launch_limits() -> dict[str, Any]:
    """`demo.launch` keyword arguments (merged into app.ui.launch_options) that install these limits."""
    from starlette.middleware import Middleware

    quiet_path_refusals()
    return {"app_kwargs": {"middleware": [Middleware(RequestLimits)]}}  # max_file_size: app.ui.launch_options
