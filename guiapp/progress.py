"""A small text progress bar for the CLI (stderr, redraws in place, ETA from the mean rate)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    def __init__(self, total: int, label: str = "", stream: TextIO | None = None, width: int = 28) -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.start = time.perf_counter()
        self.interactive = self.stream.isatty()
        self._last_draw = 0.0

    def update(self, done: int, info: str = "", force: bool = False) -> None:
        now = time.perf_counter()
        # Non-interactive streams (CI logs, pipes) get a line at most every 5 s.
        interval = 0.1 if self.interactive else 5.0
        if not force and now - self._last_draw < interval and done < self.total:
            return
        self._last_draw = now
        frac = min(done / self.total, 1.0)
        elapsed = now - self.start
        eta = elapsed / done * (self.total - done) if done else float("nan")
        bar = "#" * int(frac * self.width) + "-" * (self.width - int(frac * self.width))
        text = f"{self.label} [{bar}] {done}/{self.total} {elapsed:5.1f}s ETA {_fmt(eta)} {info}"
        if self.interactive:
            self.stream.write("\r" + text[:160].ljust(100))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()


def _fmt(seconds: float) -> str:
    if seconds != seconds:  # nan
        return "--"
    m, s = divmod(int(seconds), 60)
    return f"{m}:{s:02d}" if m < 60 else f"{m // 60}h{m % 60:02d}m"
