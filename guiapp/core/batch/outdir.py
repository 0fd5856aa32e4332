"""The output folder of a batch: one batch at a time (a lock), and no litter from crashes.

The lock is an OS file lock (flock) on a file in the output folder: the OS drops it when
the holding process dies, however it dies, so a crash never leaves the folder locked.
A batch that ends deletes the lock file while it still holds the lock; whoever opened the
file just before and then gets the lock sees that it was deleted (the name no longer
leads to the file it locked) and tries again, so two batches never hold "the" lock.
Temp files of ours that a killed run left behind are removed by the next run, which is
safe only while holding the lock (another running batch's temp files are not stale).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import OutputError
from ..file_lock import try_lock

LOCK_NAME = ".guiapp-batch.lock"

# Ours only: save_png's ".NAME.png.XXXXXXXX.tmp", the reports' ".report.json.XXXXXXXX.tmp"
# and probe_writable's ".guiapp-probe-XXXXXXXX.tmp" (tempfile's random part is [a-z0-9_]).
_STALE = re.compile(r"^\.(?:.+\.png|report\.json|report\.csv|guiapp-probe-)\.?[a-z0-9_]{6,}\.tmp$")


class BatchLockedError(OutputError):
    """Another batch is running on the same output folder."""


class OutputLock:
    """Exclusive lock on a batch output folder (context manager)."""

    def __init__(self, out_dir: str | Path) -> None:
        self.path = Path(out_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> "OutputLock":
        for _attempt in range(20):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise OutputError(f"cannot create the lock file {self.path}: {exc.strerror}") from exc
            if not try_lock(fd):
                holder = _read_holder(fd)
                os.close(fd)
                raise BatchLockedError(
                    f"another batch{holder} is writing to {self.path.parent}; wait for it to finish, "
                    "or choose another output folder"
                )
            if _same_file(fd, self.path):
                break
            os.close(fd)  # the batch that held it ended and deleted it meanwhile: lock the new one
        else:
            raise OutputError(f"cannot lock {self.path}: it keeps being replaced")
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                self.path.unlink()  # while still locked: see the module doc
            except OSError:
                pass  # a read-only folder, or Windows (an open file cannot be deleted): it stays
            os.close(self._fd)  # closing drops the lock
            self._fd = None

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _read_holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except (OSError, AttributeError, UnicodeDecodeError):
        return ""
    return f" (process {pid})" if pid.isdigit() else ""


def remove_stale_temp_files(out_dir: str | Path) -> list[Path]:
    """Delete temp files of ours under `out_dir`; returns what was removed."""
    removed = []
    for folder, _dirs, files in os.walk(out_dir):
        for name in files:
            if name.startswith(".") and name.endswith(".tmp") and _STALE.match(name):
                path = Path(folder) / name
                try:
                    path.unlink()
                    removed.append(path)
                except OSError:
                    pass  # not ours to fight over; the run goes on
    return removed
