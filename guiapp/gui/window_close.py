"""Closing the window: ask about work under way and unsaved runs, then save the
settings, stop the workers and write the History's indexes."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtGui import QCloseEvent

from . import window_state

if TYPE_CHECKING:
    from .main_window import MainWindow

log = logging.getLogger(__name__)


def work_under_way(win: MainWindow) -> str:
    """What closing now would throw away ('' if nothing)."""
    if win.built and win.attack.running:
        return f"An attack is running ({win.attack.progress_text()})."
    dialog = getattr(win, "_batch_dialog", None)
    if dialog is not None and dialog.worker is not None:
        return "A batch is running."
    return ""


def close_event(win: MainWindow, event: QCloseEvent) -> None:
    # Nothing here may raise: an exception escaping a Qt virtual override crashes
    # PySide 6.12 while it reports it (seen in CI), so failures are logged instead.
    try:
        busy = win.work_under_way()
        if busy:
            from .dialogs import confirm_close

            if not confirm_close(win, busy):
                event.ignore()
                return
        if win.built:  # (before, there is no run, and the guard's imports would load the engine)
            from . import result_guard

            if not result_guard.may_close(win):  # finished runs nobody saved: asked too
                event.ignore()
                return
    except Exception:  # noqa: BLE001 - asking must not stop the window closing
        log.exception("could not ask before closing")
    try:
        window_state.save(win)
    except Exception:  # noqa: BLE001 - losing settings must not stop the window closing
        log.exception("could not save settings")
    try:
        from .workers import stop_all

        win.jobs.drop_all()  # anything still arriving is stale
        if not stop_all(timeout_ms=5000):
            log.warning("background work did not stop within 5 s")
        if win.built:  # after the workers: a run finished just now has its PNG written
            win.kept.write_all()  # the runs, with what they gained since they were written
    except Exception:  # noqa: BLE001
        log.exception("stopping background work failed")
    event.accept()
