"""Stop points (core/stop_points.py): work run under `stopping_on(event)` raises Cancelled
at its next stop point once the event is set; elsewhere a stop point does nothing."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from guiapp.core.errors import Cancelled
from guiapp.core.metrics import distortion
from guiapp.core.stop_points import stop_point, stopping_on


def test_a_stop_point_outside_any_scope_does_nothing():
    stop_point()  # the window and the CLI: their own cancel is checked between steps


def test_a_set_event_stops_work_at_its_next_stop_point():
    event = threading.Event()
    with stopping_on(event):
        stop_point()  # not set yet: goes on
        event.set()
        with pytest.raises(Cancelled):
            stop_point()
    stop_point()  # the scope ended: nothing to stop


def test_scopes_nest_and_belong_to_their_thread():
    outer, inner = threading.Event(), threading.Event()
    outer.set()
    seen: list[bool] = []
    with stopping_on(outer):
        thread = threading.Thread(target=lambda: seen.append(_stops()))
        thread.start()
        thread.join()
        with stopping_on(inner):
            stop_point()  # the inner (unset) event is the one in force
        assert _stops()  # the outer scope is back
    assert seen == [False]  # another thread has no scope, even while this one's event is set


def _stops() -> bool:
    try:
        stop_point()
    except Cancelled:
        return True
    return False


def test_the_figures_of_a_cancelled_job_are_not_computed():
    """distortion() (seconds on a large image) is one of the long operations with stop points."""
    a = np.zeros((64, 64, 3), np.uint8)
    event = threading.Event()
    event.set()
    with stopping_on(event), pytest.raises(Cancelled):
        distortion(a, a)
