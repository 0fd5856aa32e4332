"""How many CPU threads torch may use for one attack.

torch's default is one thread per core. Each operation is then split across the cores and
waits for the slowest part, so when anything else runs (a browser, an IDE, a second job)
every step waits for a core that is busy elsewhere, while the waiting threads spin. On
the 2-core machine (docs/BENCHMARKS.md, bench/busy.py) a default attack with two competing
busy processes took 19-24 s with 2 threads against 3.5 s with 1, and 2 threads bought
nothing on a quiet machine. So guiapp uses one thread per attack on the CPU unless told
otherwise (`--threads N`, GUIAPP_THREADS=N, Edit > Preferences in the app), and a batch
uses more cores by running more workers, one thread each.
"""

from __future__ import annotations

import os

import torch

from .errors import GuiappError

DEFAULT_THREADS = 1
ENV = "GUIAPP_THREADS"
MAX_THREADS = 256


def requested_threads(value: int | str | None = None) -> int:
    """The thread count asked for: `value`, else $GUIAPP_THREADS, else DEFAULT_THREADS."""
    raw = value if value is not None else os.environ.get(ENV) or DEFAULT_THREADS
    where = f" (from {ENV})" if value is None else ""
    try:
        n = int(raw)
    except (TypeError, ValueError):
        raise GuiappError(f"threads must be a whole number from 1 to {MAX_THREADS}, not {raw!r}{where}") from None
    if not 1 <= n <= MAX_THREADS:
        raise GuiappError(f"threads must be from 1 to {MAX_THREADS}, not {n}{where}")
    return n


def apply_threads(value: int | str | None = None) -> int:
    """Set torch's CPU thread count for this process (see the module doc); returns it."""
    n = requested_threads(value)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
