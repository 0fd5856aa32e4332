"""What the main window remembers between sessions: layout, settings, target, recent files."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QSize
from PySide6.QtGui import QGuiApplication

from ..core.models import DEFAULT_MODEL, model_status

DEFAULT_SIZE = QSize(1400, 880)
MAX_RECENT = 8
SPLITTERS = ("split", "hsplit", "bottom")  # attribute names of the window's splitters


def default_size(available: QSize) -> QSize:
    """DEFAULT_SIZE, shrunk to the screen's free area (a 1366x768 laptop included)."""
    return QSize(min(DEFAULT_SIZE.width(), available.width()), min(DEFAULT_SIZE.height(), available.height()))


def restore(win) -> None:
    s: QSettings = win.settings
    if s.value("geometry"):
        win.restoreGeometry(s.value("geometry"))
    else:
        screen = win.screen() or QGuiApplication.primaryScreen()
        win.resize(default_size(screen.availableGeometry().size()) if screen else DEFAULT_SIZE)
    if s.value("state"):
        win.restoreState(s.value("state"))
    for key in SPLITTERS:
        if s.value(key):
            getattr(win, key).restoreState(s.value(key))
    form = win.form
    for key, box in form.spinboxes().items():
        if s.value(f"attack/{key}") is not None:
            box.setValue(float(s.value(f"attack/{key}")))
    # Settings of versions with a "Robust" checkbox instead of the mode choice.
    legacy_robust = s.value("attack/robust", "false") in (True, "true")
    form.set_mode(s.value("attack/mode", "robust" if legacy_robust else "default"))
    for key, checklist in (("surrogates", form.surrogates), ("judges", form.judges)):
        value = s.value(f"transfer/{key}")
        if value is not None:
            checklist.set_checked([value] if isinstance(value, str) else list(value))
    model = s.value("model", DEFAULT_MODEL)
    combo = win.model_combo
    i = combo.findData(model)
    combo.setCurrentIndex(i if i >= 0 and model_status(model)[0] else combo.findData(DEFAULT_MODEL))
    if s.value("target") is not None:
        win.target_combo.set_target(int(s.value("target")))
    if s.value("diff_gain") is not None:
        win.views.factor.setValue(int(s.value("diff_gain")))


def save(win) -> None:
    s: QSettings = win.settings
    s.setValue("geometry", win.saveGeometry())
    s.setValue("state", win.saveState())
    for key in SPLITTERS:
        s.setValue(key, getattr(win, key).saveState())
    form = win.form
    for key, box in form.spinboxes().items():
        s.setValue(f"attack/{key}", box.value())
    s.setValue("attack/mode", form.current_mode())
    s.remove("attack/robust")
    s.setValue("transfer/surrogates", form.surrogates.checked())
    s.setValue("transfer/judges", form.judges.checked())
    s.setValue("model", win.model_combo.currentData())
    if win.target_combo.currentIndex() >= 0:
        s.setValue("target", int(win.target_combo.currentData()))
    s.setValue("diff_gain", win.views.factor.value())
    s.sync()


def recent_files(settings: QSettings) -> list[str]:
    value = settings.value("recent", [])
    return [value] if isinstance(value, str) else list(value or [])


def remember(settings: QSettings, path: Path) -> None:
    recent = [str(path)] + [p for p in recent_files(settings) if p != str(path)]
    settings.setValue("recent", recent[:MAX_RECENT])
