"""Stop points: a job whose result nobody will read stops inside its step, not after it.

An attack's own cancel (AttackLoop.cancel) is checked between steps, and the step's
result is kept: the window shows where a stopped run got to, the CLI prints it. A server
job that was cancelled, timed out or is shutting down has no reader for that result, and
one transfer step with the worst settings a client may send takes half a minute on a
large image (docs/BENCHMARKS.md, hardening); a Python thread cannot be interrupted inside a
torch or scipy call. So the long operations call `stop_point()` between their parts
(each surrogate's pass, the gradient's smoothing, the budget's calibration, the figures),
and a caller that runs work under `stopping_on(event)` gets `Cancelled` raised at the
first stop point after the event is set. Without such a scope (the window, the CLI) a stop
point does nothing.

The scope is per thread: the server's worker threads each run one job under its own event.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import Cancelled

_local = threading.local()


@contextmanager
def stopping_on(event: threading.Event) -> Iterator[None]:
    """Work in this block (on this thread) raises Cancelled at its next stop point once `event` is set."""
    previous = getattr(_local, "event", None)
    _local.event = event
    try:
        yield
    finally:
        _local.event = previous


def stop_point() -> None:
    """Raise Cancelled if this thread's work was asked to stop (see `stopping_on`)."""
    event = getattr(_local, "event", None)
    if event is not None and event.is_set():
        raise Cancelled("stopped: the job was cancelled")
