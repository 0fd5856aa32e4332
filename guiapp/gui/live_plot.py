"""Live curves of the optimisation: losses on top, confidences below.

One curve per series fed from growing buffers; redraws are throttled to a timer so a
fast optimisation (tens of steps per second on GPU) never floods the event loop.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ..core.attack import StepRecord

SERIES = {
    # key: (plot, legend name, colour)
    "class_loss": ("loss", "class loss", "#8ab4f8"),
    "centroid_loss": ("loss", "centroid loss", "#f28b82"),
    "target_conf": ("conf", "target confidence", "#81c995"),
    "source_conf": ("conf", "source confidence", "#fdd663"),
}


class LivePlot(QWidget):
    REDRAW_MS = 100

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground("#202124")
        self.loss_plot = self.canvas.addPlot(row=0, col=0, title="Loss")
        self.conf_plot = self.canvas.addPlot(row=1, col=0, title="Confidence")
        self.conf_plot.setYRange(0, 1, padding=0.02)
        self.conf_plot.getAxis("left").setTicks([[(0, "0"), (0.5, "0.5"), (1, "1")]])
        self.conf_plot.setXLink(self.loss_plot)
        self.conf_plot.setLabel("bottom", "step")
        plots = {"loss": self.loss_plot, "conf": self.conf_plot}
        # Losses fall from the top-left and confidences rise from the bottom-left, so
        # those legends go top-right and top-left, where the curves rarely are.
        for plot, offset in ((self.loss_plot, (-10, 10)), (self.conf_plot, (60, 10))):
            plot.showGrid(x=True, y=True, alpha=0.2)
            legend = plot.addLegend(offset=offset)
            legend.setBrush(pg.mkBrush(32, 33, 36, 200))
        self.steps: list[int] = []
        self.buffers: dict[str, list[float]] = {k: [] for k in SERIES}
        self.curves = {
            key: plots[where].plot([], [], name=name, pen=pg.mkPen(colour, width=2))
            for key, (where, name, colour) in SERIES.items()
        }
        self.success_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#81c995", style=pg.QtCore.Qt.DashLine))
        self.success_line.hide()
        self.conf_plot.addItem(self.success_line)
        self._dirty = False
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._redraw)
        self.timer.start(self.REDRAW_MS)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)

    def clear(self) -> None:
        self.steps.clear()
        for buf in self.buffers.values():
            buf.clear()
        self.success_line.hide()
        self._dirty = True

    def add(self, record: StepRecord) -> None:
        self.steps.append(record.step)
        for key, buf in self.buffers.items():
            value = getattr(record, key)
            buf.append(value if math.isfinite(value) else float("nan"))
        if record.adversarial and not self.success_line.isVisible():
            self.success_line.setValue(record.step)
            self.success_line.show()
        self._dirty = True

    def point_count(self) -> int:
        return len(self.steps)

    def _redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        for key, curve in self.curves.items():
            curve.setData(self.steps, self.buffers[key])
