"""A rate limit on one victim shared by every process on this machine.

A query-mode batch with N worker processes asks one victim from N places; a limit kept in
each process (`HttpVictim`'s own) would let N times the rate through. The time of the last
question to a victim is kept in a small file in the system's temp folder (one per victim
URL), read and rewritten under an exclusive OS lock, and a process waits its turn while
holding the lock, so questions leave at least `interval` seconds apart whoever asks.
Without OS file locks (Windows) the limit is kept per process.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path


class RateGate:
    """At least `interval` seconds between two questions to the victim named `key`."""

    def __init__(self, key: str, interval: float) -> None:
        self.interval = interval
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        self.path = Path(tempfile.gettempdir()) / f"guiapp-victim-{digest}.rate"
        self._lock = threading.Lock()
        self._last = 0.0

    def wait(self) -> None:
        """Block until this question may leave, and count it as the last one."""
        if self.interval <= 0:
            return
        with self._lock:
            try:
                import fcntl
            except ImportError:  # no OS file locks: this process's own limit
                self._sleep_until(self._last + self.interval)
                self._last = time.time()
                return
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                text = os.pread(fd, 64, 0).decode(errors="replace").strip()
                try:
                    last = float(text) if text else 0.0
                except ValueError:
                    last = 0.0  # a damaged file: start again
                # A clock set back must not stall everyone: never wait more than one interval.
                self._sleep_until(min(last + self.interval, time.time() + self.interval))
                now = f"{time.time():.6f}".encode()
                os.ftruncate(fd, 0)
                os.pwrite(fd, now, 0)
            finally:
                os.close(fd)  # releases the lock

    @staticmethod
    def _sleep_until(moment: float) -> None:
        gap = moment - time.time()
        if gap > 0:
            time.sleep(gap)
