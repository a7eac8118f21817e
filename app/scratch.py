"""The app's temporary files: one folder per server process, `<tmp>/gald_studio/<pid>-<token>/`, removed when
the process exits (atexit; app.py turns SIGTERM into a normal exit), and folders of processes that no longer
run removed when the next one starts. PNGs for the UI (`png/`), prediction exports (`exports/`) and paper
figures live here; gradio's own upload cache is gradio's (app.limits bounds it on disk)."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

OURS = re.compile(r"(\d{1,9})-[0-9a-z]+")  # <pid>-<token>: this module's per-process folders
STALE_LEGACY_S = 24 * 3600  # `gald_png_*` folders of older versions (no pid in the name): removed after a day
_lock = threading.Lock()
_mine: Path | None = None


def root() -> Path:
    return Path(tempfile.gettempdir()) / "gald_studio"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: no pid is that large
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _old(path: Path, now: float) -> bool:
    try:
        return now - path.stat().st_mtime > STALE_LEGACY_S
    except OSError:
        return False


def remove_stale(now: float | None = None) -> list[Path]:
    """Remove the folders of server processes that are gone, and day-old folders of older versions (export
    folders `<token>-<key>` here, `gald_png_*` beside it: no pid in their names)."""
    removed = []
    now = time.time() if now is None else now
    base = root()
    for entry in base.iterdir() if base.is_dir() else []:
        if not entry.is_dir():
            continue
        match = OURS.fullmatch(entry.name)
        if match and int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1))) or \
                not match and _old(entry, now):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    for entry in Path(tempfile.gettempdir()).glob("gald_png_*"):
        if entry.is_dir() and _old(entry, now):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def process_dir(part: str = "") -> Path:
    """This process's scratch folder (or a sub-folder `part`), created on first use; the first call also
    removes stale folders and registers the removal of this one at exit."""
    global _mine
    with _lock:
        if _mine is None or not _mine.is_dir():
            remove_stale()
            _mine = root() / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
            _mine.mkdir(parents=True, exist_ok=True)
            atexit.register(shutil.rmtree, _mine, True)
    folder = _mine / part if part else _mine
    folder.mkdir(parents=True, exist_ok=True)
    return folder
