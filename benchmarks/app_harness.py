"""Harness for measuring the real app from outside: `python app.py` as a subprocess (AppProcess) with the RSS of
its process tree, a gradio_client wrapper with outputs named by their labels (AppClient), a resident-memory
sampler (Peak), and builders of hostile-but-valid files (a zero PNG of any size, a TIFF with any number of
pages). Used by benchmarks/request_budget.py and by tests/reliability (tests may import benchmarks; benchmarks
never import tests)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BOMB_SIDE = 9380  # 88 MP: just under Pillow's decompression-bomb limit (89.5 MP), so Pillow alone lets it in
TIFF_PAGES = 40_000  # ~4.5 MB; Pillow's n_frames walked these in 18-36 s on 2 cores


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
            "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def write_zero_png(path: Path, width: int, height: int) -> Path:
    """A valid, all-black 1-bit PNG of any size, built row by row: a real decompression bomb is a few KB."""
    row = b"\x00" * (1 + (width + 7) // 8)
    comp = zlib.compressobj(6)
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", body)
                     + _png_chunk(b"IEND", b""))
    return path


def write_many_page_tiff(path: Path, pages: int, size: tuple[int, int] = (128, 96)) -> Path:
    """A valid TIFF whose first page is a `size` grey image and which holds `pages` - 1 more 1x1 pages, written
    as raw IFDs (Pillow's save_all would take minutes): 40,000 pages are ~4 MB."""
    w, h = size
    pixels = bytes(range(256)) * (w * h // 256 + 1)
    first_strip = pixels[: w * h]
    header = 8

    def ifd(width: int, height: int, strip_offset: int, strip_bytes: int, next_ifd: int) -> bytes:
        entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
                   (273, 4, 1, strip_offset), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, strip_bytes)]
        body = struct.pack("<H", len(entries))
        for tag, typ, count, value in entries:
            body += struct.pack("<HHI", tag, typ, count) + (struct.pack("<HH", value, 0) if typ == 3
                                                            else struct.pack("<I", value))
        return body + struct.pack("<I", next_ifd)

    ifd_size = len(ifd(1, 1, 0, 0, 0))
    tiny_strip = header + len(first_strip)  # one shared byte for every 1x1 page
    first_ifd = tiny_strip + 1
    parts = [b"II*\x00" + struct.pack("<I", first_ifd), first_strip, b"\x80"]
    for i in range(pages):
        offset = first_ifd + i * ifd_size
        nxt = offset + ifd_size if i + 1 < pages else 0
        parts.append(ifd(w, h, header, len(first_strip), nxt) if i == 0 else ifd(1, 1, tiny_strip, 1, nxt))
    path.write_bytes(b"".join(parts))
    return path


class AppProcess:
    """`python app.py --checkpoint CK` on 127.0.0.1:<free port>; `rss_mb()` of the process tree."""

    def __init__(self, checkpoint: Path, workdir: Path, ready_timeout: float = 240,
                 env: dict[str, str] | None = None) -> None:
        import psutil

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.tmp = workdir / "server_tmp"  # TMPDIR: the app's exports and gradio's cache, to measure disk use
        self.tmp.mkdir(parents=True, exist_ok=True)
        env = {**subprocess_env(), "GRADIO_SERVER_PORT": str(self.port), "GRADIO_SERVER_NAME": "127.0.0.1",
               "TMPDIR": str(self.tmp), "GRADIO_TEMP_DIR": str(self.tmp / "gradio"), **(env or {})}
        self.log_path = workdir / "server.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen([PYTHON, "app.py", "--checkpoint", str(checkpoint)], cwd=REPO, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        self.ps = psutil.Process(self.proc.pid)
        self._wait_ready(ready_timeout)

    def _wait_ready(self, timeout: float) -> None:
        import httpx

        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "config", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.close()
        raise TimeoutError(f"app.py not ready after {timeout:.0f} s: {self.log_path.read_text()[-2000:]}")

    def rss_mb(self) -> float:
        import psutil

        total = 0
        for p in [self.ps, *self.ps.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total / 2**20

    def disk_mb(self, part: str = "") -> float:
        """MB of temporary files: all, or only those under `part` (e.g. "gradio": gradio's cache)."""
        root = self.tmp / part if part else self.tmp
        total = 0
        for f in root.rglob("*"):
            with contextlib.suppress(OSError):  # the app deletes files while we walk
                total += f.stat().st_size if f.is_file() else 0
        return total / 2**20

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)  # it stops in ~3 s; the margin is for a loaded machine
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> AppProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AppClient:
    """gradio_client against `/analyze`, with outputs named by their component labels (robust to reordering)."""

    NAMES = [("Image", r"^Input$", "input"), ("Image", r"GALD", "gald"), ("Image", r"^Ground truth", "gt"),
             ("Dataframe", r"IoU", "iou"), ("Downloadbutton", r"[Pp]rediction", "pred_png")]

    def __init__(self, url: str, download_dir: str | os.PathLike | bool) -> None:
        from gradio_client import Client

        self.url = url
        self.client = Client(url, verbose=False, download_files=download_dir if download_dir else False,
                             analytics_enabled=False)
        api = self.client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/analyze"]
        self.returns = [r["label"] for r in api["returns"]]
        self.components = [r["component"] for r in api["returns"]]

    def analyze(self, image: Any, label: Any = None, alpha: Any = 0.6, channel: Any = 0) -> dict[str, Any]:
        from gradio_client import handle_file

        def arg(x: Any) -> Any:
            return handle_file(str(x)) if isinstance(x, Path) else x

        out = self.client.predict(arg(image), arg(label), alpha, channel, api_name="/analyze")
        named: dict[str, Any] = {}
        for value, lab, comp in zip(out, self.returns, self.components, strict=True):
            if comp == "Markdown" and "summary" not in named:
                named["summary"] = value
            for component, pattern, name in self.NAMES:
                if comp == component and name not in named and re.search(pattern, str(lab)):
                    named[name] = value
        return named


class ProcessRSS:
    """rss_mb() of one process and its children (what AppProcess offers, for any pid)."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.ps = psutil.Process(pid)

    def rss_mb(self) -> float:
        import psutil

        total = 0
        try:
            for p in [self.ps, *self.ps.children(recursive=True)]:
                total += p.memory_info().rss
        except psutil.Error:
            pass
        return total / 2**20


@dataclass
class Peak:
    """Samples `target.rss_mb()` every `interval` s in a thread: the peak above the level at entry."""

    target: Any
    interval: float = 0.02
    before: float = 0.0
    peak: float = 0.0
    seconds: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Peak:
        self.before = self.peak = self.target.rss_mb()
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.target.rss_mb())
            self._stop.wait(self.interval)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.target.rss_mb())
        self.seconds = time.perf_counter() - self._t0

    @property
    def delta(self) -> float:
        return self.peak - self.before


def child_peak(code: str, timeout: float = 120) -> Peak:
    """Run `python -c code` under a Peak sampler: a positive control that a blow-up would be seen."""
    proc = subprocess.Popen([PYTHON, "-c", code])
    target = ProcessRSS(proc.pid)
    with Peak(target) as peak:
        proc.wait(timeout=timeout)
    return peak
