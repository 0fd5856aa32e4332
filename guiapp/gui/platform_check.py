"""Before Qt starts: can it open a window here? If not, say what to install.

On a fresh Debian/Ubuntu desktop Qt's xcb platform plugin often lacks system libraries
(libxcb-cursor0, libxcb-icccm4...). Qt then aborts the whole process (rc 134) with
"could not load the Qt platform plugin xcb", which tells a user nothing they can act on.
`ldd` on the plugin lists the libraries the dynamic loader cannot find, before anything
is loaded into this process, so we can print the one apt line that fixes it instead.
Qt aborts the same way when DISPLAY names a display nobody answers on (a stale DISPLAY,
an X server that has gone), so that is checked too.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

# Every system library the xcb plugin (and Qt's xcb integration) links to, with the
# Debian/Ubuntu package providing it.
XCB_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
}
# The same line is in README's set-up: it installs everything above (already installed
# packages are left as they are), so it fixes whichever of them is missing.
APT_LINE = "sudo apt-get install -y " + " ".join(dict.fromkeys(XCB_PACKAGES.values()))


def missing_libraries(ldd_output: str) -> list[str]:
    """Library names `ldd` reports as "not found", each once, in order."""
    missing = []
    for line in ldd_output.splitlines():
        name, sep, where = line.strip().partition("=>")
        if sep and where.strip().startswith("not found") and name.strip() not in missing:
            missing.append(name.strip())
    return missing


def xcb_plugin() -> Path | None:
    """The xcb platform plugin Qt would load, if this Qt has one."""
    from PySide6.QtCore import QLibraryInfo  # QtCore needs no display libraries

    plugin = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def run_ldd(path: Path) -> str:
    try:
        done = subprocess.run(["ldd", str(path)], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return ""  # no ldd here: let Qt try, it may well work
    return done.stdout


def _uses_xcb(env: Mapping[str, str]) -> bool:
    """Will Qt pick the xcb plugin? Only an explicit choice or a plain X11 session."""
    chosen = env.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        return chosen.split(";")[0].split(":")[0] == "xcb"
    return not env.get("WAYLAND_DISPLAY")  # on Wayland, Qt picks its wayland plugin first


def display_error(display: str) -> str | None:
    """Why no X server can be reached at `display`, or None (reached, or no way to tell).

    Connects the way Qt's xcb plugin will (libxcb, honouring XAUTHORITY); Qt itself aborts
    the process when that fails, blaming a missing xcb-cursor library."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return None  # the library check says what is missing
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)  # never NULL: an error object at worst
    try:
        code = xcb.xcb_connection_has_error(connection)
    finally:
        xcb.xcb_disconnect(connection)
    if code == 0:
        return None
    if code == 5:  # XCB_CONN_CLOSED_PARSE_ERR
        return "that is not a display name (expected e.g. :0 or localhost:10.0)"
    if code == 6:  # XCB_CONN_CLOSED_INVALID_SCREEN
        return "that display has no such screen"
    return "no X server answers there, or it refused the connection"


def preflight(
    env: Mapping[str, str] | None = None,
    plugin: Path | None = None,
    ldd: Callable[[Path], str] | None = None,
    platform: str = sys.platform,
    display: Callable[[str], str | None] | None = None,
) -> str | None:
    """None if Qt should be able to open a window; else what to tell the user."""
    env = os.environ if env is None else env
    if not platform.startswith("linux") or not _uses_xcb(env):
        return None
    if not env.get("DISPLAY"):
        return (
            "guiapp: no display to open a window on (DISPLAY is not set). Start it from a desktop "
            "session, over `ssh -X`, or under a virtual screen (`xvfb-run guiapp`); "
            "without a display, use guiapp-cli."
        )
    plugin = plugin or xcb_plugin()
    if plugin is None:
        return None
    missing = missing_libraries((ldd or run_ldd)(plugin))
    if not missing:
        why = (display or display_error)(env["DISPLAY"])
        if why is None:
            return None
        return (
            f"guiapp: cannot open a window on the display {env['DISPLAY']!r} (DISPLAY): {why}. "
            "Check DISPLAY, or start guiapp from a desktop session, over `ssh -X`, or under a "
            "virtual screen (`xvfb-run guiapp`); without a display, use guiapp-cli."
        )
    unknown = [lib for lib in missing if lib not in XCB_PACKAGES]
    also = f"Also install the package that provides {', '.join(unknown)}.\n" if unknown else ""
    return (
        f"guiapp: Qt cannot open a window: its xcb plugin needs system libraries that are "
        f"missing here: {', '.join(missing)}.\nInstall them with:\n\n    {APT_LINE}\n\n{also}"
        "Then start guiapp again."
    )


def leaks_none(call: Callable[[], object] | None = None, calls: int = 200) -> bool:
    """Does a void Qt call drop a reference to None? (PySide6 6.12.0 on Python 3.11 does,
    and the app then dies with "none_dealloc" after minutes of use.) None is immortal
    from Python 3.12 on, where this cannot happen."""
    if call is None:
        if sys.version_info >= (3, 12):
            return False
        from PySide6.QtCore import QObject

        probe = QObject()
        call = lambda: probe.setObjectName("probe")  # noqa: E731 - a void method
    before = sys.getrefcount(None)
    for _ in range(calls):
        call()
    return before - sys.getrefcount(None) >= calls // 2


def pyside_warning() -> str | None:
    """A warning to print when the installed PySide6 has that reference bug."""
    if not leaks_none():
        return None
    from PySide6 import __version__

    return (f"guiapp: warning: PySide6 {__version__} loses a reference to None on every Qt call under "
            f"Python {sys.version_info.major}.{sys.version_info.minor}, so the app will crash after a while. "
            "Install another version: pip install 'PySide6-Essentials!=6.12.0'")
