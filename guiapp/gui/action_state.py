"""Which actions and buttons the window enables, from its state: built or not, a run
under way, a model and an image, a target typed, a result on screen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import menus
from .startup import trace

if TYPE_CHECKING:
    from .main_window import MainWindow


def start_blocker(win: MainWindow) -> str:
    """Why Start is disabled ('' when it is not)."""
    if not win.built or (win.model is None and win.jobs.running("model")):
        return "The model is loading…"
    if win.model is None:  # its load failed (the message said why) and no model was in use before
        return "No model: pick another in the Model list."
    if win.image is None:
        return "Open an image to start (File > Open, drag and drop, or a sample)."
    if not win.target_field.text():
        return "Type the target label above to enable Start."
    values = win.form.values()
    if values.get("max_queries", 0) > 0 and not str(values.get("victim", "")).strip():
        # The query mode asks a victim: said here, before Start, not as an error after it.
        return "Type the victim above (an http(s) URL or a model) to enable Start, or set Max queries to 0."
    return ""


def update(win: MainWindow, running: bool) -> None:
    """Enable what can be used now (`running`: a run is under way)."""
    for name in (*menus.STUDIO_ACTIONS, "act_save", "act_start", "act_stop"):
        getattr(win, name).setEnabled(False)
    for action in win.tab_actions:
        action.setEnabled(win.built)
    if not win.built:
        return
    blocker = "" if running else win.start_blocker()
    for name in ("act_fit", "act_actual", "act_zoom2", "act_zoom4", "act_blink", "act_swipe", "act_crop",
                 "act_batch"):
        getattr(win, name).setEnabled(True)
    # Nothing to export before a run (it wrote an empty chart); a run shown, or stopped, has its plot.
    win.act_export_plot.setEnabled(not running and win.plot.point_count() > 0)
    win.act_add_model.setEnabled(not running)
    win.act_check_model.setEnabled(not running and win.model is not None)
    for w in (win.act_start, win.start_button):
        w.setEnabled(not running and not blocker)
    win.panel.start_hint.setText(blocker)
    win.panel.start_hint.setVisible(bool(blocker))
    for w in (win.act_stop, win.stop_button):
        w.setEnabled(running)
    shown = win.result is not None and not win.result.cancelled
    win.act_save.setEnabled(not running and shown)
    win.act_export_report.setEnabled(not running and shown)
    win.act_copy_command.setEnabled(not running and shown)
    win.model_combo.setEnabled(not running)
    win.form.mode.setEnabled(not running)
    ready = win.model is not None and win.image is not None
    win.defences.button.setEnabled(not running and ready)
    win.defences.all_button.setEnabled(not running and ready)
    if ready and not running and not blocker:
        trace("start-enabled")
