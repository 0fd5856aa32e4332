"""The server's temp folder: one private root per process, a byte budget for everything in
it, and no litter from servers that were killed.

Every request writes under the root (`guiapp-serve-<random>` in the system temp folder,
readable by this user only): uploads while they stream in, the PNGs of finished jobs.
`Budget` counts those bytes against `--max-disk-mb`, uploads still arriving included, so a
flood of large uploads is refused (503) before it fills the disk. A live server holds an
OS lock on `<root>/.lock`; the OS drops it however the process dies, so the next server
to start knows which roots are orphans (a `kill -9`, a power cut) and deletes them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..core.file_lock import try_lock

ROOT_PREFIX = "guiapp-serve-"
LOCK_NAME = ".lock"
# Roots made before they carried a lock (older versions) are orphans once nothing in them
# has changed for this long (a live server's root changes with every request).
LEGACY_ORPHAN_S = 24 * 3600


class Budget:
    """Bytes the server may keep in its temp folder; thread-safe. `make_room(n)` is asked
    to free at least n bytes (the job store forgets its oldest finished jobs) before a
    reservation is refused."""

    def __init__(self, limit: int, make_room: Callable[[int], None] | None = None) -> None:
        self.limit = limit
        self.used = 0
        self.make_room = make_room
        self._lock = threading.Lock()

    def try_reserve(self, n: int) -> bool:
        for attempt in range(2):
            with self._lock:
                if self.used + n <= self.limit:
                    self.used += n
                    return True
                short = self.used + n - self.limit
            if attempt == 0 and self.make_room is not None:
                self.make_room(short)
        return False

    def add(self, n: int) -> None:
        """Count bytes that are already on disk (a job's PNG), over the limit if need be;
        older finished jobs are forgotten to get back under it."""
        with self._lock:
            self.used += n
            over = self.used - self.limit
        if over > 0 and self.make_room is not None:
            self.make_room(over)

    def release(self, n: int) -> None:
        with self._lock:
            self.used = max(0, self.used - n)


def _lock_file(fd: int) -> bool:
    """Take an exclusive OS lock on fd without waiting; False if another process holds it
    (or the filesystem cannot lock: such a root is not ours to judge)."""
    try:
        return try_lock(fd)
    except OSError:
        return False


def _newest_change(root: Path) -> float:
    newest = root.stat().st_mtime
    for entry in root.iterdir():
        try:
            newest = max(newest, entry.stat().st_mtime)
        except OSError:
            pass
    return newest


def _is_orphan(root: Path, now: float) -> bool:
    """A root no live server holds: its lock can be taken (then it is released at once)."""
    st = root.lstat()
    if not root.is_dir() or root.is_symlink() or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
        return False  # not ours to judge
    lock = root / LOCK_NAME
    if not lock.exists():
        return now - _newest_change(root) > LEGACY_ORPHAN_S
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return False
    try:
        return _lock_file(fd)
    finally:
        os.close(fd)  # closing drops the lock we may have taken


def remove_orphans(parent: Path | None = None) -> list[Path]:
    """Delete the roots of servers that died without cleaning up; returns what was removed."""
    parent = Path(parent or tempfile.gettempdir())
    removed: list[Path] = []
    now = time.time()
    try:
        candidates = [p for p in parent.iterdir() if p.name.startswith(ROOT_PREFIX)]
    except OSError:
        return removed
    for root in candidates:
        try:
            if _is_orphan(root, now):
                shutil.rmtree(root)
                removed.append(root)
        except OSError:
            pass  # vanished meanwhile, or not ours to delete: the server starts anyway
    return removed


class TempRoot:
    """This process's private temp folder, locked for as long as it lives."""

    def __init__(self, parent: Path | None = None) -> None:
        self.parent = parent
        self.path: Path | None = None
        self._fd: int | None = None
        self.removed_orphans: list[Path] = []

    def open(self) -> Path:
        self.removed_orphans = remove_orphans(self.parent)
        path = Path(tempfile.mkdtemp(prefix=ROOT_PREFIX, dir=self.parent))
        fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        _lock_file(fd)  # a fresh file nobody else knows: always ours
        self.path, self._fd = path, fd
        return path

    def close(self) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def tree_bytes(path: Path) -> int:
    """Bytes of the files under `path` (for tests and the benchmark)."""
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total
