"""Results are never lost without a question (issue 34 item 1).

Before the window opens another image or closes, it asks here. A run under way is
stopped only if the user says so; finished runs nobody saved are named, with a Save
button for the newest of them, a button to go on without saving, and Cancel. Save asks
where, saves in a worker, then tries the held-back action again (which asks about any
other unsaved run, one at a time). The questions are dialogs.confirm_stop and
dialogs.ask_unsaved, looked up at call time so tests can answer them.

Neither loses a run any more (each image keeps its runs in its History, on disk too:
kept_runs), so the questions say where the runs stay, or which could not be written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import dialogs, run_store, save_flow

if TYPE_CHECKING:
    from .main_window import MainWindow

MAX_NAMED = 4  # runs named in a question; more are counted


def _names(entries: list[Any]) -> str:
    named = [f"#{e.number} ({e.target_name}"
             + (f", {e.run.plan.image.path.name})" if e.run.plan.image.path else ")") for e in entries[-MAX_NAMED:]]
    more = len(entries) - len(named)
    return ", ".join(named) + (f" and {more} more" if more > 0 else "")


def _ask(win: MainWindow, entries: list[Any], title: str, where: str, discard: str,
         then: Callable[[], object]) -> bool:
    """Ask about `entries` (unsaved, oldest first). True: go on now."""
    newest = entries[-1]
    runs = "Run" if len(entries) == 1 else "Runs"
    verb = "is" if len(entries) == 1 else "are"
    answer = dialogs.ask_unsaved(win, title, f"{runs} {_names(entries)} {verb} not saved as PNG.", where,
                                 f"Save run #{newest.number}…", discard)
    if answer == "discard":
        for entry in entries:
            entry.dismissed = True  # the user has been asked: never again for these
        return True
    if answer == "save":
        save_flow.save_with_dialog(win, newest, then)  # `then` once saved; nothing if cancelled
    return False


def may_start_opening(win: MainWindow, path: Path) -> bool:
    """May the window start reading `path`? Asks about a run under way (it stops when the new
    image arrives); unsaved runs are asked about once the file has been read (may_leave)."""
    if _same_image(win, path) or not win.attack.running:
        return True
    return dialogs.confirm_stop(win, f"An attack is running ({win.attack.progress_text()}).", f"Opening {path.name}")


def may_leave(win: MainWindow, path: Path) -> bool:
    """`path` was read: may the window show it instead of the image now open? Asks about the
    unsaved runs. (After the read, not before: walked, a file that was not an image got the
    question first and its error after.)"""
    current = win.image.path if win.image is not None else None
    if _same_image(win, path):
        return True  # the same image again: its runs stay where they are
    unsaved = win.session.unsaved()
    if not unsaved:
        return True
    name = current.name if current else "it"
    return _ask(win, unsaved, "Open another image?", f"They stay in this image's History: open {name} again, "
                f"now or after a restart, to see them.{_not_kept(win, unsaved)}",
                "Open without saving", lambda: win.open_image(path))


def _same_image(win: MainWindow, path: Path) -> bool:
    current = win.image.path if win.image is not None else None
    return current is not None and Path(current) == path


def may_close(win: MainWindow) -> bool:
    """May the window close now? Asks about the unsaved runs of every image opened."""
    unsaved = win.session.unsaved(everywhere=True)
    if not unsaved:
        return True
    return _ask(win, unsaved, "Quit guiapp?", "They stay in their image's History: open the image again after "
                f"a restart to see them.{_not_kept(win, unsaved)}", "Quit without saving", win.close)


def _not_kept(win: MainWindow, entries: list[Any]) -> str:
    """The runs that do not come back after a restart (kept_runs could not write them)."""
    lost = [e for e in entries if not win.kept.is_kept(e)]
    if not lost:
        return ""
    return (f" Except {_names(lost)}: not written to the History folder ({run_store.folder(win.settings)}), "
            "lost when guiapp quits.")
