"""What the main window remembers between sessions: layout, settings, target, recent files.

Everything the attack form shows is remembered, the target included (typed or picked),
so nothing comes back unevenly; values that differ from the defaults are marked in the
form and listed by the Batch dialog, and the form's *Defaults* button resets them.
`restore_geometry` runs before the engine is imported (at start-up the window shows at
its remembered size at once); `restore_studio` once the studio is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPoint, QRect, QSettings, QSize
from PySide6.QtGui import QGuiApplication

if TYPE_CHECKING:
    from .main_window import MainWindow

DEFAULT_SIZE = QSize(1400, 880)
# Below this the attack panel pushes Start out of sight and the plot's axis titles and the
# predictions' columns collide (walked at 700x500 and 960x640); a smaller screen's free
# area wins.
MIN_SIZE = QSize(1024, 700)  # docs/APP.md: the window fits a 1024x700 screen
DEFAULT_MODEL = "efficientnet-lite0"  # guiapp.core.models.DEFAULT_MODEL, without importing the engine
# Room left on the first launch for a window manager's title bar and borders, before the
# real frame is known (Openbox, GNOME, KDE: 20-40 px of title bar); fit_to_screen corrects it.
FRAME_GUESS = QSize(8, 40)
MAX_RECENT = 8
SPLITTERS = ("split", "hsplit", "bottom")  # attribute names of the window's splitters
STATE_VERSION = 2  # the layout changed (tabs below the views): older saved states are not restored


def default_size(available: QSize) -> QSize:
    """DEFAULT_SIZE, shrunk to the screen's free area (a 1366x768 laptop included)."""
    return QSize(min(DEFAULT_SIZE.width(), available.width()), min(DEFAULT_SIZE.height(), available.height()))


def restore_geometry(win: MainWindow) -> None:
    """The last size and place, within this screen's free area (Qt's restoreGeometry
    shrank a window saved on a 1366x768 screen to 970x435 on a 1024x700 one). The window
    manager's frame is not known before the window is shown: the first launch leaves room
    for a typical one, and `fit_to_screen` corrects both once it is known."""
    s: QSettings = win.settings
    screen = win.screen() or QGuiApplication.primaryScreen()
    free = screen.availableGeometry() if screen else None
    win.setMinimumSize(MIN_SIZE.boundedTo(free.size()) if free else MIN_SIZE)
    size = s.value("window/size")
    pos = s.value("window/pos")
    if isinstance(size, QSize) and size.isValid():
        win.resize(size.boundedTo(free.size()) if free else size)
    else:
        win.resize(default_size(free.size() - FRAME_GUESS) if free else DEFAULT_SIZE)
        if free is not None and not isinstance(pos, QPoint):
            win.move(free.topLeft())  # the frame's corner: not under a panel, nor placed off the bottom
    if isinstance(pos, QPoint) and free is not None:
        x = min(max(pos.x(), free.left()), free.right() - win.width() + 1)
        y = min(max(pos.y(), free.top()), free.bottom() - win.height() + 1)
        win.move(x, y)
    if s.value("state"):
        win.restoreState(s.value("state"))


def fitted(frame: QRect, inner: QRect, free: QRect) -> QRect:
    """The window's inner geometry (what setGeometry takes) that puts its whole frame,
    title bar included, inside `free`: as large as it was or as the room allows, moved
    no further than needed. `frame` and `inner`: its frame and inner geometry now."""
    extra = QSize(frame.width() - inner.width(), frame.height() - inner.height())
    size = inner.size().boundedTo(free.size() - extra)
    x = min(max(frame.left(), free.left()), free.right() + 1 - size.width() - extra.width())
    y = min(max(frame.top(), free.top()), free.bottom() + 1 - size.height() - extra.height())
    return QRect(QPoint(x + inner.left() - frame.left(), y + inner.top() - frame.top()), size)


def fit_to_screen(win: MainWindow) -> None:
    """Keep the whole window, frame and status bar included, on its screen's free area
    (issue 34 item 5: at 1366x768 under a window manager the first launch put the status
    bar below the screen: the window was as tall as the screen, its title bar on top)."""
    screen = win.screen() or QGuiApplication.primaryScreen()
    if screen is None or not win.isVisible() or win.isMaximized() or win.isFullScreen():
        return
    free, frame, inner = screen.availableGeometry(), win.frameGeometry(), win.geometry()
    if free.contains(frame):
        return
    room = free.size() - QSize(frame.width() - inner.width(), frame.height() - inner.height())
    win.setMinimumSize(win.minimumSize().boundedTo(room))  # a 1024x700 screen: the floor less the frame
    win.setGeometry(fitted(frame, inner, free))


def remembered_model(settings: QSettings) -> str:
    from .model_list import usable
    from .user_model_ui import remembered

    model = str(settings.value("model", DEFAULT_MODEL))
    if model in remembered(settings):
        return model  # a user's model: if its file has gone, loading it says so
    return model if usable(model) else DEFAULT_MODEL


def restore_studio(win: MainWindow) -> None:
    s: QSettings = win.settings
    if _int(s.value("layout_version")) == STATE_VERSION:
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
    for mode in form.presets:
        stored = s.value(f"attack/{mode}/preset")
        if isinstance(stored, str):
            form.set_preset(mode, stored)
    form.set_mode(str(s.value("attack/mode", "default")))
    judges = s.value("attack/judges")
    if judges is not None:
        form.judges.set_checked([judges] if isinstance(judges, str) else list(judges))
    combo = win.model_combo
    combo.setCurrentIndex(combo.findData(remembered_model(s)))
    target = _int(s.value("target"))
    if target is not None and 0 <= target < win.target_combo.count():
        win.target_combo.set_target(target)
    if s.value("diff_gain") is not None:
        win.views.factor.setValue(int(float(s.value("diff_gain"))))
    tab = _int(s.value("tab"))
    if tab is not None and 0 <= tab < win.tabs.count():
        win.tabs.setCurrentIndex(tab)


def save(win: MainWindow) -> None:
    s: QSettings = win.settings
    s.setValue("window/size", win.size())
    s.setValue("window/pos", win.pos())
    s.setValue("state", win.saveState())
    if not getattr(win, "built", False):
        s.sync()
        return  # closed before the studio was built: nothing else was shown or changed
    s.setValue("layout_version", STATE_VERSION)
    for key in SPLITTERS:
        s.setValue(key, getattr(win, key).saveState())
    form = win.form
    for mode in form.fields:
        for name, value in form.values(mode).items():
            s.setValue(f"attack/{mode}/{name}", "auto" if value is None else list(value) if isinstance(value, tuple)
                       else value)
    for mode in form.presets:
        s.setValue(f"attack/{mode}/preset", form.preset(mode))
    s.setValue("attack/mode", form.current_mode())
    s.setValue("attack/judges", form.judges.checked())
    if win.model is not None:
        s.setValue("model", win.model.name)  # the model in use (the list may show Add model…)
    target = _typed_target(win.target_combo)
    if target is None:
        s.remove("target")
    else:
        s.setValue("target", target)
    s.setValue("diff_gain", win.views.factor.value())
    s.setValue("tab", win.tabs.currentIndex())
    s.sync()


def _typed_target(combo: Any) -> int | None:
    """The target as picked or typed (a typed name was forgotten before), None if none."""
    from ..core.errors import GuiappError

    if not combo.currentText().strip():
        return None
    try:
        return int(combo.target_index())
    except GuiappError:
        return None


def _int(value: object) -> int | None:
    try:
        return int(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _stored(value: object, spec: Any) -> object:
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
    if isinstance(value, str):  # QSettings gives a list of one as its string
        return [value]
    return list(value) if isinstance(value, list | tuple) else []


def remember(settings: QSettings, path: Path) -> None:
    recent = [str(path)] + [p for p in recent_files(settings) if p != str(path)]
    settings.setValue("recent", recent[:MAX_RECENT])
