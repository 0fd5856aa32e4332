"""Take the README screenshot: a 1600-px photo filling its three views after a run.

    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python docs/screenshot.py docs/img/app.png

The photo is the CC0 cat sample (451x300) upscaled to 1600 px wide, since the samples
shipped in resources/ are small and the shot should show how a large photo is fitted.
The image is opened while the model is still loading, as `guiapp IMAGE` does.
"""

import sys
import tempfile
from pathlib import Path

import pyqtgraph as pg
from PIL import Image
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from guiapp.gui.main_window import MainWindow  # noqa: E402
from guiapp.gui.menus import SAMPLES_DIR  # noqa: E402

WIDTH = 1600


def main(out: str, size=(1440, 900)) -> None:
    app = QApplication([])
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
    tmp = Path(tempfile.mkdtemp())
    photo = tmp / "chelsea_cat_1600.png"
    small = Image.open(SAMPLES_DIR / "chelsea_cat.jpg")
    small.resize((WIDTH, round(small.height * WIDTH / small.width)), Image.LANCZOS).save(photo)
    settings = QSettings(str(tmp / "s.ini"), QSettings.IniFormat)
    win = MainWindow(settings=settings)
    win.resize(*size)
    win.show()

    def grab_and_quit() -> None:
        win.grab().save(out)
        win.close()
        app.quit()

    def start() -> None:
        win.target_combo.set_target(1)  # goldfish
        win.start_attack()

    started = []

    def on_ready() -> None:
        if not started:  # image_ready comes again if the model is changed; start once
            started.append(True)
            QTimer.singleShot(300, start)

    win.image_ready.connect(on_ready)
    win.attack_finished.connect(lambda result: QTimer.singleShot(800, grab_and_quit))  # let the plot redraw
    win.open_image(photo)
    app.exec()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "app.png")
