import pytest
from PySide6.QtCore import QSettings


@pytest.fixture
def settings(tmp_path):
    # An isolated settings file per test: never read or write the user's real settings, nor
    # the user's History folder (the runs kept across restarts).
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)
    settings.setValue("history/folder", str(tmp_path / "history"))
    return settings


@pytest.fixture(autouse=True)
def close_without_asking(monkeypatch):
    """Closing a window mid-run asks first (a modal box); tests close windows mid-run on
    teardown, so they answer "stop and quit" unless a test says otherwise."""
    from guiapp.gui import dialogs

    asked = []
    monkeypatch.setattr(dialogs, "confirm_close", lambda parent, what: asked.append(what) or True)
    return asked


@pytest.fixture(autouse=True)
def go_on_without_saving(monkeypatch):
    """Opening another image or closing the window after an unsaved run, or opening one
    mid-run, asks first (modal boxes, issue 34); tests answer "go on without saving" and
    "stop it" unless a test says otherwise. The questions asked, in order."""
    from guiapp.gui import dialogs

    asked = []
    monkeypatch.setattr(dialogs, "ask_unsaved", lambda parent, title, *a: asked.append(title) or "discard")
    monkeypatch.setattr(dialogs, "confirm_stop", lambda parent, what, doing, *a: asked.append(doing) or True)
    return asked


@pytest.fixture(autouse=True)
def no_leftover_threads(qtbot):
    """Fail a test that leaves a worker thread running."""
    yield
    from guiapp.gui.workers import live_threads, stop_all

    leftovers = live_threads()
    if leftovers:
        stop_all(2000)
    assert not leftovers, f"{len(leftovers)} QThread(s) still running after the test"


@pytest.fixture
def window(qtbot, settings):
    import pyqtgraph as pg

    from guiapp.gui.main_window import MainWindow

    pg.setConfigOptions(imageAxisOrder="row-major")
    win = MainWindow(settings=settings, device="cpu")
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.model is not None, timeout=30000)
    yield win  # qtbot closes it (closeEvent stops its workers) and deletes it
