"""Entry point of the desktop app: `guiapp [IMAGE]` or `python -m guiapp [IMAGE]`."""

from __future__ import annotations

import argparse
import sys

import pyqtgraph as pg
from PySide6.QtWidgets import QApplication


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="guiapp", description="Desktop studio for targeted adversarial noise.")
    parser.add_argument("image", nargs="?", help="image to open at start")
    parser.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N")
    args, qt_args = parser.parse_known_args(argv if argv is not None else sys.argv[1:])
    app = QApplication.instance() or QApplication([sys.argv[0], *qt_args])
    app.setOrganizationName("guiapp")
    app.setApplicationName("guiapp")
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)

    from .main_window import MainWindow

    window = MainWindow(device=args.device)
    window.show()
    if args.image:
        window.open_image(args.image)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
