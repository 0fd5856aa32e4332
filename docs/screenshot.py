"""Take the README screenshot: the app mid-run on a sample photo (run under Xvfb).

    xvfb-run -s "-screen 0 1440x900x24" .venv/bin/python docs/screenshot.py docs/img/app.png
"""

import sys
import tempfile
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from guiapp.gui.main_window import SAMPLES_DIR, MainWindow  # noqa: E402


def main(out: str, size=(1280, 800), stop_at_step: int = 14) -> None:
    app = QApplication([])
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.IniFormat)
    win = MainWindow(settings=settings)
    win.resize(*size)
    win.show()

    def grab_and_quit() -> None:
        win.grab().save(out)
        win.close()
        app.quit()

    poll = QTimer()

    def check_progress() -> None:
        if win.plot.point_count() >= stop_at_step:
            poll.stop()
            QTimer.singleShot(700, grab_and_quit)  # let the throttled plot and preview catch up

    def start() -> None:
        win.target_combo.set_target(1)  # goldfish
        win.form.refine.setValue(40)  # a longer run, so the shot catches it mid-way
        win.start_attack()
        poll.timeout.connect(check_progress)
        poll.start(20)

    win.model_ready.connect(lambda: win.open_image(SAMPLES_DIR / "chelsea_cat.jpg"))
    win.image_ready.connect(lambda: QTimer.singleShot(300, start))
    app.exec()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "app.png")
