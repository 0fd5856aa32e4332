"""Edit > Copy as command: the run shown, as the `guiapp-cli attack` line that repeats it
(core/command_line.py), put on the clipboard and shown in the status bar."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QApplication

from ..core.command_line import attack_command
from ..core.imageio import MAX_PIXELS

if TYPE_CHECKING:
    from .main_window import MainWindow


def command_of(entry: Any) -> str:
    """The line of a History entry: its image, target, settings, model and, once saved, its file."""
    plan = entry.run.plan
    image = str(plan.image.path) if plan.image.path else "IMAGE"  # a pasted image has no file
    output = entry.saved[-1] if entry.saved else None
    # A run read back (History after a restart, a batch row) has no pixel limit of its own:
    # the default's is what its line then says.
    return attack_command(image, plan.target_name, plan.config, model=plan.crafters[0].name, output=output,
                          max_pixels=getattr(plan, "max_pixels", MAX_PIXELS))


def copy_command(win: MainWindow) -> None:
    entry = win.shown_entry()
    if entry is None:
        win.show_error("Run an attack first: Copy as command copies the run shown.")
        return
    line = command_of(entry)
    QApplication.clipboard().setText(line)
    win.statusBar().showMessage(f"Copied: {line}", 10_000)
