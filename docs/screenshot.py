"""Take the README screenshots: a 1600-px photo filling its three views after a run
(app.png), then, after two more runs, the run history with the first run shown again
(history.png) and the model's view with its saliency maps (saliency.png).

    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python docs/screenshot.py docs/img

The photo is the CC0 cat sample (451x300) upscaled to 1600 px wide, since the samples
shipped in resources/ are small and the shot should show how a large photo is fitted.
The window starts as `guiapp IMAGE` does (shown first, the engine imported behind it).
"""

import sys
import tempfile
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from guiapp.gui.main_window import MainWindow  # noqa: E402
from guiapp.gui.menus import SAMPLES_DIR  # noqa: E402

WIDTH = 1600
TARGETS = (1, 31, 2)  # goldfish, tree frog, great white shark


def main(out_dir: str, size=(1440, 900)) -> None:
    out = Path(out_dir)
    app = QApplication([])
    tmp = Path(tempfile.mkdtemp())
    photo = tmp / "chelsea_cat_1600.png"
    small = Image.open(SAMPLES_DIR / "chelsea_cat.jpg")
    small.resize((WIDTH, round(small.height * WIDTH / small.width)), Image.LANCZOS).save(photo)
    settings = QSettings(str(tmp / "s.ini"), QSettings.IniFormat)
    win = MainWindow(settings=settings, deferred=True)
    win.resize(*size)
    win.show()
    runs = []

    def grab(name: str, then) -> None:
        def do() -> None:
            win.grab().save(str(out / name))
            then()
        QTimer.singleShot(900, do)  # let the plot and the maps redraw

    def start() -> None:
        win.target_combo.set_target(TARGETS[len(runs)])
        win.start_attack()

    def finished(_result) -> None:
        runs.append(True)
        if len(runs) == 1:
            grab("app.png", start)
        elif len(runs) < len(TARGETS):
            QTimer.singleShot(300, start)
        else:
            QTimer.singleShot(1500, show_history)  # the last run's figures and maps first

    def show_history() -> None:
        win.show_tab(4)
        win.history.select(win.history.entries[0])  # the first run, shown again
        grab("history.png", show_saliency)

    def show_saliency() -> None:
        win.insights.saliency_done.connect(lambda: grab("saliency.png", quit_))
        win.show_tab(2)

    def quit_() -> None:
        win.close()
        app.quit()

    started = []

    def on_ready() -> None:
        if not started:  # image_ready comes again if the model is changed; start once
            started.append(True)
            QTimer.singleShot(300, start)

    win.image_ready.connect(on_ready)
    win.attack_finished.connect(finished)
    win.open_image(photo)
    app.exec()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
