"""What the main window remembers between sessions: layout, settings, target, recent files."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QSize
from PySide6.QtGui import QGuiApplication

from ..core.models import DEFAULT_MODEL, model_status
from ..core.options import OptionSpec

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
    for mode, fields in form.fields.items():
        for name, field in fields.items():
            stored = s.value(f"attack/{mode}/{name}")
            if stored is not None:
                try:
                    field.set_value(_stored(stored, field.spec))
                except (TypeError, ValueError):
                    pass  # unreadable (hand-edited, another version's): keep the default
    form.set_mode(s.value("attack/mode", "default"))
    judges = s.value("attack/judges")
    if judges is not None:
        form.judges.set_checked([judges] if isinstance(judges, str) else list(judges))
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
    for mode in form.fields:
        for name, value in form.values(mode).items():
            s.setValue(f"attack/{mode}/{name}", "auto" if value is None else list(value) if isinstance(value, tuple)
                       else value)
    s.setValue("attack/mode", form.current_mode())
    s.setValue("attack/judges", form.judges.checked())
    s.setValue("model", win.model_combo.currentData())
    if win.target_combo.currentIndex() >= 0:
        s.setValue("target", int(win.target_combo.currentData()))
    s.setValue("diff_gain", win.views.factor.value())
    s.sync()


def _stored(value: object, spec: OptionSpec) -> object:
    """A QSettings value back in its option's type (QSettings returns strings from an INI
    file, and a one-item list as a bare string)."""
    if value == "auto" and spec.optional:
        return None
    if spec.kind is tuple:
        return tuple([value] if isinstance(value, str) else value or ())  # type: ignore[arg-type]
    if spec.kind in (int, float):
        return spec.kind(float(value))  # type: ignore[arg-type]
    return value


def recent_files(settings: QSettings) -> list[str]:
    value = settings.value("recent", [])
    return [value] if isinstance(value, str) else list(value or [])


def remember(settings: QSettings, path: Path) -> None:
    recent = [str(path)] + [p for p in recent_files(settings) if p != str(path)]
    settings.setValue("recent", recent[:MAX_RECENT])
