"""Keeping the server's resident memory flat: glibc keeps freed heap pages mapped, so one large analysis
leaves its buffers in the process until another reuses them; on a shared Space that reads as a leak."""

from __future__ import annotations

import ctypes
import os
import sys
import time

_libc: ctypes.CDLL | None | bool = None


def _glibc() -> ctypes.CDLL | None:
    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux"):
            try:
                lib = ctypes.CDLL("libc.so.6")
                lib.malloc_trim  # noqa: B018 - musl has no malloc_trim
                _libc = lib
            except (OSError, AttributeError):
                pass
    return _libc or None


def trim_heap() -> float:
    """Hand freed heap pages back to the OS (glibc `malloc_trim(0)`); returns the seconds it took (0 where
    there is no glibc or GALD_NO_HEAP_TRIM is set)."""
    lib = _glibc()
    if lib is None or os.environ.get("GALD_NO_HEAP_TRIM"):
        return 0.0
    t0 = time.perf_counter()
    lib.malloc_trim(0)
    return time.perf_counter() - t0
