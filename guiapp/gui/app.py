"""Entry point of the desktop app: `guiapp [IMAGE]` or `python -m guiapp [IMAGE]`."""

from __future__ import annotations

import argparse
import sys

from .platform_check import preflight, pyside_warning


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="guiapp", description="Desktop studio for targeted adversarial noise.")
    parser.add_argument("image", nargs="?", help="image to open at start")
    parser.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N")
    return parser.parse_known_args(argv if argv is not None else sys.argv[1:])


def create_window(argv: list[str] | None = None, settings=None):
    """Everything `guiapp` does before the event loop: the application, the window, the
    image from the command line. Returns the shown MainWindow (the tests drive this).

    The window shows before torch and the engine are imported (startup.py): they load in
    a worker thread behind it, then the model and the image load side by side."""
    from PySide6.QtWidgets import QApplication

    from .startup import trace

    trace("process-started")
    args, qt_args = parse_args(argv)
    app = QApplication.instance() or QApplication([sys.argv[0], *qt_args])
    app.setOrganizationName("guiapp")
    app.setApplicationName("guiapp")

    from .main_window import MainWindow

    window = MainWindow(settings=settings, device=args.device, deferred=True)
    window.show()
    if args.image:
        window.open_image(args.image)  # opens once the engine is in, while the model loads
    return window


def main(argv: list[str] | None = None) -> int:
    problem = preflight()
    if problem:
        # Qt would abort the process with a message about plugins; say what fixes it.
        print(problem, file=sys.stderr)
        return 1
    warning = pyside_warning()
    if warning:
        print(warning, file=sys.stderr)
    from PySide6.QtWidgets import QApplication

    window = create_window(argv)
    app = QApplication.instance()
    assert app is not None  # create_window made it
    rc = app.exec()
    del window
    return rc


if __name__ == "__main__":
    sys.exit(main())
