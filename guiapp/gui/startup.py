"""Start-up: the window first, the engine behind it.

`guiapp IMAGE` used to show nothing for ~14 s on a 2-core machine: importing torch and
the engine (4-8 s), torchvision for the model list (3-7 s, now avoided: model_list.py),
then the model. The window now appears within a second with this panel in its centre,
which names each stage as it runs; the engine is imported in a worker thread
(`import_engine`), then the window imports its plotting modules and builds its studio on
the GUI thread, loads the model and opens the image in the background (Start is enabled
once both are ready).

Only modules that never touch Qt are imported in the worker. pyqtgraph and the studio
create Qt classes and enums as they import, and PySide6 builds those lazily, not safely
from two threads at once: importing pyqtgraph in the worker while the window painted
crashed a fresh checkout's test run with a segmentation fault. They cost ~0.1-0.3 s on
the GUI thread (bench/startup_stages.py).

This module, like main_window, menus, jobs and workers, imports nothing from the engine,
torch or pyqtgraph at import time. `GUIAPP_STARTUP_TRACE=1` prints each milestone with
its wall-clock time to stderr (bench/startup.py reads them).
"""

from __future__ import annotations

import importlib
import os
import sys
import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget

from .workers import Worker

# What the worker imports, heaviest first; each name is a stage the panel can name.
# Nothing here may import Qt (see the module's docstring).
ENGINE_MODULES = (
    ("torch", "Loading PyTorch"),
    ("guiapp.core.pipeline", "Loading the attack engine"),
)
# The stage in which the GUI thread imports the plots and the studio, then builds it.
PREPARING = "Preparing the window"
STAGES = ("Starting", *(text for _, text in ENGINE_MODULES), PREPARING, "Loading the model", "Opening the image",
          "Ready")


def trace(event: str) -> None:
    """Print a start-up milestone (GUIAPP_STARTUP_TRACE=1): `guiapp-startup EVENT UNIX_TIME`."""
    if os.environ.get("GUIAPP_STARTUP_TRACE"):
        print(f"guiapp-startup {event} {time.time():.3f}", file=sys.stderr, flush=True)


def import_engine(report=None) -> float:
    """Import torch and the engine (in a worker thread); `report(text)` names each stage
    before it starts. Returns the seconds it took."""
    start = time.perf_counter()
    for module, text in ENGINE_MODULES:
        if report is not None:
            report(text)
        importlib.import_module(module)
    trace("engine-imported")
    return time.perf_counter() - start


class StartupPanel(QWidget):
    """The window's centre until the studio is built: what is happening, and for how long."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("startup_panel")
        self.title = QLabel("<h2>guiapp</h2>Targeted adversarial noise studio")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stage = QLabel(STAGES[0] + "…")
        self.stage.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.bar = QProgressBar()
        self.bar.setRange(0, len(STAGES) - 1)
        self.bar.setTextVisible(False)
        self.bar.setFixedWidth(360)
        self.detail = QLabel("")
        self.detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail.setWordWrap(True)
        col = QVBoxLayout(self)
        col.addStretch(2)
        for w in (self.title, self.stage):
            col.addWidget(w)
        col.addWidget(self.bar, 0, Qt.AlignmentFlag.AlignHCenter)
        col.addWidget(self.detail)
        col.addStretch(3)
        self._started = time.perf_counter()
        self._text = STAGES[0]
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self._timer.start(250)

    def show_stage(self, text: str) -> None:
        """Name the stage now running (and advance the bar to it)."""
        self._text = text
        if text in STAGES:
            self.bar.setValue(STAGES.index(text))
        self._tick()

    def set_detail(self, text: str) -> None:
        self.detail.setText(text)

    def _tick(self) -> None:
        self.stage.setText(f"{self._text}… ({time.perf_counter() - self._started:.0f} s)")


class ImportWorker(Worker):
    """Runs `import_engine` in a worker thread, naming each stage as it starts."""

    stage = Signal(int, str)

    def work(self) -> float:
        return import_engine(lambda text: self.stage.emit(self.job_id, text))
