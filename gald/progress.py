"""Progress reporting that suits where the output goes.

On a terminal: a tqdm bar. Elsewhere (CI logs, `> file`, nohup): tqdm's carriage-return redraws would write
hundreds of partial lines, so a plain line is printed at most every `interval` seconds (and at the end)
with the count, rate, ETA and the same postfix the bar shows.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from tqdm import tqdm


class LineProgress:
    """The subset of tqdm's API the CLIs use (iterate, update, set_postfix, write, close), as periodic lines."""

    def __init__(self, iterable: Iterable | None = None, *, total: int | None = None, initial: int = 0,
                 desc: str = "", unit: str = "it", interval: float = 30.0, stream: TextIO | None = None) -> None:
        self.iterable, self.desc, self.unit, self.interval = iterable, desc, unit, interval
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total, self.n, self.initial = total, initial, initial
        self.stream = stream or sys.stderr
        self.postfix = ""
        self.t0 = self.last = time.monotonic()
        self.closed = False

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            yield item
            self.update(1)
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self._print()

    def set_postfix(self, **kwargs: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in kwargs.items())

    def write(self, text: str, file: TextIO | None = None) -> None:
        print(text, file=file or self.stream, flush=True)

    def _print(self) -> None:
        elapsed = time.monotonic() - self.t0
        done = self.n - self.initial
        rate = done / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.desc}: {self.n}" + (f"/{self.total}" if self.total else "") + f" {self.unit}"]
        if self.total:
            parts[0] += f" ({100 * self.n / self.total:.0f}%)"
        parts.append(f"{elapsed:.0f}s elapsed")
        if self.total and rate > 0:
            parts.append(f"ETA {(self.total - self.n) / rate:.0f}s")
        parts.append(f"{rate:.2f} {self.unit}/s")
        if self.postfix:
            parts.append(self.postfix)
        self.write(", ".join(parts))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.n > self.initial:
                self._print()


def progress(iterable: Iterable | None = None, *, enabled: bool = True, stream: TextIO | None = None,
             **kwargs: Any) -> tqdm | LineProgress:
    """A tqdm bar on a terminal, periodic lines otherwise; `enabled=False` shows nothing."""
    stream = stream or sys.stderr
    interval = kwargs.pop("interval", 30.0)
    if not enabled:
        return tqdm(iterable, disable=True, **kwargs)
    if getattr(stream, "isatty", lambda: False)():
        return tqdm(iterable, dynamic_ncols=True, file=stream, **kwargs)
    kwargs.pop("mininterval", None)  # tqdm's redraw throttle; lines use `interval`
    return LineProgress(iterable, stream=stream, interval=interval, **kwargs)
