"""The `guiapp` entry point: start-up with an image, and the check before Qt starts."""

import ctypes
from pathlib import Path

import pytest

from guiapp.gui import app, platform_check
from guiapp.gui.platform_check import APT_LINE, missing_libraries, preflight

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"
README = Path(__file__).resolve().parents[2] / "README.md"

# What `ldd libqxcb.so` printed on a Debian 12 machine lacking two of the libraries.
LDD_MISSING = """\
\tlinux-vdso.so.1 (0x00007ffd4f7f2000)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/plugins/platforms/../../lib/libQt6XcbQpa.so.6 (0x00007fee7be9e000)
\tlibxkbcommon.so.0 => /lib/x86_64-linux-gnu/libxkbcommon.so.0 (0x00007fee7bdc8000)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007fee7bdb4000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-util.so.1 => /lib/x86_64-linux-gnu/libxcb-util.so.1 (0x00007fee7bdac000)
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
"""
LDD_ALL_FOUND = "\n".join(line for line in LDD_MISSING.splitlines() if "not found" not in line)


def REACHABLE(display: str) -> None:  # an X server answers on every display
    return None


def _wait_ready(qtbot, window):
    qtbot.waitUntil(lambda: window.model is not None, timeout=60000)
    qtbot.waitUntil(lambda: window.pred_original.top_name() != "", timeout=60000)
    assert not window.act_start.isEnabled()  # no target yet: Start says to type one
    assert "target" in window.panel.start_hint.text()
    window.target_combo.set_target(1)
    qtbot.waitUntil(lambda: window.act_start.isEnabled(), timeout=10000)


def test_guiapp_with_an_image_becomes_ready(qtbot, settings):
    # What `guiapp IMAGE` runs before the event loop: the model loads while the image
    # opens, and neither result may discard the other.
    window = app.create_window([str(SAMPLES / "chelsea_cat.jpg"), "--device", "cpu"], settings=settings)
    qtbot.addWidget(window)
    _wait_ready(qtbot, window)
    assert window.image is not None and window.image.path.name == "chelsea_cat.jpg"
    assert window.pred_original.top_name() in ("Egyptian cat", "tiger cat", "tabby")
    assert window.start_button.isEnabled()
    assert "loading" not in window.status_model.text()


def test_a_relative_path_is_remembered_absolute(qtbot, settings, monkeypatch, tmp_path):
    # `cd project && guiapp resources/samples/coffee.jpg`: Open recent and the file dialog's
    # folder must still work when the app is started from another folder later.
    monkeypatch.chdir(SAMPLES.parent)
    window = app.create_window(["samples/coffee.jpg", "--device", "cpu"], settings=settings)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.recent_files() != [], timeout=60000)
    assert window.recent_files()[0] == str(SAMPLES / "coffee.jpg")
    assert settings.value("last_dir") == str(SAMPLES)
    monkeypatch.chdir(tmp_path)
    window.recent_menu.actions()[0].trigger()
    qtbot.waitUntil(lambda: window.pred_original.top_name() == "espresso", timeout=60000)


def test_recent_file_opened_before_the_model_is_ready(qtbot, settings):
    from guiapp.gui.main_window import MainWindow

    settings.setValue("recent", [str(SAMPLES / "coffee.jpg")])
    window = MainWindow(settings=settings, device="cpu")
    qtbot.addWidget(window)
    window.show()
    assert window.model is None  # still loading
    window.recent_menu.actions()[0].trigger()
    _wait_ready(qtbot, window)
    assert window.pred_original.top_name() == "espresso"


def test_a_newer_image_supersedes_only_the_older_image(qtbot, settings):
    from guiapp.gui.main_window import MainWindow

    window = MainWindow(settings=settings, device="cpu")
    qtbot.addWidget(window)
    window.open_image(SAMPLES / "chelsea_cat.jpg")
    window.open_image(SAMPLES / "coffee.jpg")  # supersedes the cat, not the model
    _wait_ready(qtbot, window)
    qtbot.waitUntil(lambda: window.pred_original.top_name() == "espresso", timeout=30000)
    assert window.image.path.name == "coffee.jpg"


def test_missing_libraries_are_read_from_ldd():
    assert missing_libraries(LDD_MISSING) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    assert missing_libraries(LDD_ALL_FOUND) == []
    assert missing_libraries("") == []


def test_preflight_names_the_missing_libraries_and_the_apt_line(tmp_path):
    plugin = tmp_path / "libqxcb.so"
    env = {"DISPLAY": ":0"}
    message = preflight(env, plugin=plugin, ldd=lambda p: LDD_MISSING, platform="linux")
    assert "libxcb-icccm.so.4" in message and "libxcb-keysyms.so.1" in message
    assert APT_LINE in message
    assert "libxcb-icccm4" in APT_LINE and "libxcb-keysyms1" in APT_LINE and "libxcb-cursor0" in APT_LINE
    assert preflight(env, plugin=plugin, ldd=lambda p: LDD_ALL_FOUND, platform="linux", display=REACHABLE) is None


def test_preflight_unknown_library_is_named():
    message = preflight({"DISPLAY": ":0"}, plugin=Path("x"), platform="linux",
                        ldd=lambda p: "\tlibfoo-bar.so.7 => not found\n")
    assert "libfoo-bar.so.7" in message and "Also install" in message


@pytest.mark.parametrize(
    "env, expect",
    [
        ({}, "DISPLAY is not set"),  # no X server at all
        ({"QT_QPA_PLATFORM": "xcb"}, "DISPLAY is not set"),
        ({"QT_QPA_PLATFORM": "offscreen"}, None),  # Qt will not use xcb: nothing to check
        ({"WAYLAND_DISPLAY": "wayland-0"}, None),
        ({"DISPLAY": ":0"}, None),
    ],
)
def test_preflight_knows_when_xcb_is_used(env, expect, tmp_path):
    message = preflight(env, plugin=tmp_path / "libqxcb.so", ldd=lambda p: LDD_ALL_FOUND, platform="linux",
                        display=REACHABLE)
    assert message is None if expect is None else expect in message


def test_preflight_is_linux_only():
    assert preflight({}, ldd=lambda p: LDD_MISSING, platform="darwin") is None


def _forbid_window(monkeypatch) -> None:
    """Fail the test if guiapp gets as far as creating its window."""

    def must_not_run(*args, **kwargs):
        raise AssertionError("the window was created although Qt would abort")

    monkeypatch.setattr(app, "create_window", must_not_run)


def test_main_prints_the_fix_instead_of_starting_qt(monkeypatch, capsys):
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(platform_check, "run_ldd", lambda path: LDD_MISSING)
    _forbid_window(monkeypatch)
    assert app.main([str(SAMPLES / "coffee.jpg")]) == 1
    err = capsys.readouterr().err
    assert APT_LINE in err and "libxcb-icccm.so.4" in err


def test_a_display_nobody_answers_on_is_named_before_qt_aborts(monkeypatch, capsys):
    # DISPLAY=:55 with no X server there: Qt aborted (rc 134) blaming xcb-cursor0.
    try:
        ctypes.CDLL("libxcb.so.1")
    except OSError:
        pytest.skip("libxcb is not installed here: the display check needs it (and so would Qt)")
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setenv("DISPLAY", ":9977")  # no server: the real connection attempt fails
    monkeypatch.setattr(platform_check, "run_ldd", lambda path: LDD_ALL_FOUND)
    _forbid_window(monkeypatch)
    assert app.main([str(SAMPLES / "coffee.jpg")]) == 1
    err = capsys.readouterr().err
    assert "':9977'" in err and "no X server answers there" in err and "guiapp-cli" in err


def test_readme_setup_has_the_same_apt_line():
    assert APT_LINE in README.read_text(encoding="utf-8")


def test_none_reference_leak_is_detected():
    import ctypes

    drop = ctypes.pythonapi.Py_DecRef
    drop.argtypes = [ctypes.py_object]
    keep = ctypes.pythonapi.Py_IncRef
    keep.argtypes = [ctypes.py_object]
    try:
        assert platform_check.leaks_none(lambda: drop(None), calls=200)  # what PySide6 6.12.0 did
    finally:
        for _ in range(200):
            keep(None)
    assert not platform_check.leaks_none(lambda: None)
    assert platform_check.pyside_warning() is None  # the installed PySide6 is not affected


def test_the_window_module_imports_no_engine():
    # Issue 21: the window shows before torch, the engine and pyqtgraph are imported (they
    # load in a worker behind it); a module-level import of any of them would undo that.
    import subprocess
    import sys

    code = ("import sys, guiapp.gui.app, guiapp.gui.main_window; "
            "print(sorted(m for m in ('torch', 'pyqtgraph', 'guiapp.core', 'numpy', 'PIL') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"

def test_the_import_worker_brings_in_nothing_that_touches_qt():
    # PySide6 builds Qt types lazily and not safely from two threads: pyqtgraph imported in the
    # start-up worker while the window painted crashed a fresh checkout's run (segfault in
    # pyqtgraph/Qt/__init__). The worker imports only what never touches Qt; the GUI thread
    # imports the plots and the studio.
    import subprocess
    import sys

    code = ("import sys, guiapp.gui.startup as s; before = set(sys.modules); s.import_engine(); "
            "print(sorted(m for m in set(sys.modules) - before "
            "if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph') or m.startswith('guiapp.gui'))); "
            "print('torch' in sys.modules and 'guiapp.core.pipeline' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.split() == ["[]", "True"]  # nothing Qt, and the engine is in


def test_guiapp_shows_the_window_before_the_engine_and_names_each_stage(qtbot, settings):
    # `guiapp IMAGE`: the window is up with the start-up panel before the studio exists; the
    # image opens once the engine is in, the model loads meanwhile.
    window = app.create_window([str(SAMPLES / "coffee.jpg"), "--device", "cpu"], settings=settings)
    qtbot.addWidget(window)
    assert window.isVisible() and not window.built and window.centralWidget() is window.startup
    assert "coffee.jpg" in window.startup.detail.text()
    assert not window.act_start.isEnabled() and not window.act_batch.isEnabled()
    with qtbot.waitSignal(window.studio_ready, timeout=60000):
        pass
    assert window.built and window.startup is None
    qtbot.waitUntil(lambda: window.pred_original.top_name() == "espresso", timeout=60000)
