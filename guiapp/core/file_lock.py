"""An exclusive OS lock on an open file, taken without waiting: the one guard the batch
output folder (batch/outdir.py) and the server's temp roots (serve/storage.py) share."""

from __future__ import annotations

import sys


def try_lock(fd: int) -> bool:
    """Lock `fd` exclusively; False if another process holds the lock. Other failures
    (a filesystem without locks) raise OSError: the caller decides what they mean."""
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
