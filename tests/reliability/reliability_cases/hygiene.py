"""Server hygiene: no server path read for a client, nothing outside app/examples served, limits."""

from __future__ import annotations

import ast
import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image

from gald.io.checkpoint import checkpoint_paths

from .common import REPO, Result, short, synthetic_pair


def _raw_call(url: str, data: list[Any], timeout: float = 60) -> tuple[str, str]:
    """POST /gradio_api/call/analyze without gradio_client (which would upload a local path itself)."""
    import httpx

    base = url.rstrip("/") + "/gradio_api"
    r = httpx.post(f"{base}/call/analyze", json={"data": data}, timeout=timeout)
    r.raise_for_status()
    event = r.json()["event_id"]
    with httpx.stream("GET", f"{base}/call/analyze/{event}", timeout=timeout) as s:
        text = "".join(s.iter_text())
    kind = re.search(r"event: (\w+)", text)
    return (kind.group(1) if kind else "?"), text


def hygiene_results(url: str, workdir: Path, checkpoint: Path, demo: Any = None) -> list[Result]:
    """File access, upload size limit and launch settings of the running app."""
    import httpx

    from app import ui

    results: list[Result] = []
    base = url.rstrip("/") + "/gradio_api"

    def add(case: str, expected: str, observed: str, ok: bool) -> None:
        results.append(Result("hygiene", case, expected, observed, ok))

    # 1. a path to a server file (outside the upload cache), posted as FileData without uploading it. The
    # client sees only an error event (show_error is off), so the reason is read where it is decided: a spy
    # on gradio's path check records its InvalidPathError ("... was not uploaded by a user"). The control: the
    # same call with a path that /upload returned must analyse the image.
    workdir.mkdir(parents=True, exist_ok=True)
    secret = workdir / "server_secret.png"
    Image.fromarray(synthetic_pair(seed=11)[0]).save(secret)
    from gradio.utils import get_upload_folder

    upload = Path(get_upload_folder())
    traversal = str(upload.joinpath(*[".."] * (len(upload.parts) - 1), *secret.resolve().parts[1:]))
    with _path_check_spy() as refusals:
        for name, path in (("server PNG outside cache", str(secret)), ("/etc/passwd", "/etc/passwd"),
                           ("cache dir/../..: traversal", traversal), ("repo example PNG", str(_an_example()))):
            refusals.clear()
            kind, text = _raw_call(url, [{"path": path, "meta": {"_type": "gradio.FileData"}}, None, 0.6, 0, None])
            reason = next((r for r in refusals if "not uploaded by a user" in r or "not allowed" in r), None)
            ok = kind == "error" and "Analysed" not in text and reason is not None
            add(f"analyze(FileData path={name})", "refused by gradio's path check (not uploaded by a user)",
                f"event: {kind}; {short(reason or 'no InvalidPathError raised', 60)}", ok)
        refusals.clear()
        r = httpx.post(f"{base}/upload", files={"files": ("control.png", secret.read_bytes(), "image/png")},
                       timeout=60)
        uploaded = r.json()[0] if r.status_code == 200 else None
        kind, text = _raw_call(url, [{"path": uploaded, "meta": {"_type": "gradio.FileData"}}, None, 0.6, 0, None])
        add("control: analyze(FileData path returned by /upload)", "analysed through the same call",
            f"event: {kind} {short(text, 50)}", kind == "complete" and "Analysed" in text and not refusals)
    # 2. file route: nothing outside allowed_paths / the upload cache is served
    for name, path in (("checkpoint", str(checkpoint_paths(checkpoint)[0])), ("app.py", str(REPO / "app.py")),
                       ("relative app.py", "app.py"), ("/etc/passwd", "/etc/passwd")):
        code = httpx.get(f"{base}/file={path}", timeout=30).status_code
        add(f"GET /file={name}", "403/404", f"HTTP {code}", code in (403, 404))
    # 3. upload size limit enforced by the server (the client checks too, so bypass it)
    limit = _parse_size(ui.MAX_FILE_SIZE)
    blob = b"\x89PNG\r\n\x1a\n" + bytes(limit + 1024)
    r = httpx.post(f"{base}/upload", files={"files": ("big.png", blob, "image/png")}, timeout=120)
    add(f"upload {len(blob) / 2**20:.1f} MB (limit {ui.MAX_FILE_SIZE})", "HTTP 413", f"HTTP {r.status_code}",
        r.status_code == 413)
    # 4. launch settings
    opts = ui.launch_options()
    add("launch_options share", "False", repr(opts.get("share")), opts.get("share") is False)
    allowed = [Path(p).resolve() for p in opts.get("allowed_paths", [])]
    examples = (REPO / "app" / "examples").resolve()
    add("launch_options allowed_paths", "only app/examples", str([str(p.relative_to(REPO)) for p in allowed]),
        all(p == examples or examples in p.parents for p in allowed))
    add("launch_options max_file_size", "set", repr(opts.get("max_file_size")), bool(opts.get("max_file_size")))
    launch_calls = _launch_kwargs(REPO / "app.py")
    bad = [c for c in launch_calls if re.search(r"share\s*=\s*True|allowed_paths|blocked_paths", c)]
    add("app.py launch(...)", "no share=True, no extra paths", short("; ".join(launch_calls) or "no launch call", 80),
        bool(launch_calls) and not bad)
    if demo is not None:
        add("gr.Blocks delete_cache", "set (gradio's cache is otherwise kept forever)", repr(demo.delete_cache),
            bool(demo.delete_cache))
        add("queue max_size", "set (bounded queue)", repr(demo._queue.max_size), bool(demo._queue.max_size))
    cfg = httpx.get(url.rstrip("/") + "/config", timeout=30).json()
    add("served config share_url", "none", repr(cfg.get("share_url")), not cfg.get("share_url"))
    return results


@contextlib.contextmanager
def _path_check_spy() -> Iterator[list[str]]:
    """Record the messages of the InvalidPathErrors that gradio's file-path check raises (in-process server)."""
    from gradio import processing_utils

    original = processing_utils._check_allowed
    seen: list[str] = []

    def spy(*args, **kwargs):
        try:
            return original(*args, **kwargs)
        except Exception as exc:
            seen.append(f"{type(exc).__name__}: {exc}")
            raise

    processing_utils._check_allowed = spy
    try:
        yield seen
    finally:
        processing_utils._check_allowed = original


def _an_example() -> Path:
    found = sorted((REPO / "app" / "examples").glob("*.png"))
    return found[0] if found else REPO / "app" / "examples" / "missing.png"


def _parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]?b)\s*", text.lower())
    if not m:
        raise ValueError(f"cannot parse size {text!r}")
    return int(float(m.group(1)) * {"b": 1, "kb": 2**10, "mb": 2**20, "gb": 2**30}[m.group(2)])


def _launch_kwargs(path: Path) -> list[str]:
    """Source text of every `.launch(...)` call in a file."""
    tree = ast.parse(path.read_text())
    return [ast.unparse(n) for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "launch"]


