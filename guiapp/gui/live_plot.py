"""Live curves of the optimisation: losses on top, confidences below.

One curve per series fed from growing buffers; redraws are throttled to a timer so a
fast optimisation (tens of steps per second on GPU) never floods the event loop. Each
plot's legend is its title line, above the plot, where no curve can run through it.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ..core.attacks import StepRecord

SERIES = {
    # key: (plot, legend name, colour)
    "class_loss": ("loss", "class loss", "#8ab4f8"),
    "centroid_loss": ("loss", "centroid loss", "#f28b82"),
    "target_conf": ("conf", "target confidence", "#81c995"),
    "source_conf": ("conf", "source confidence", "#fdd663"),
}
EMPTY_STEPS = 10  # the step axis before the first step arrives


def legend_html(where: str) -> str:
    """The legend of one plot as a title line: a coloured bar and the name of each series."""
    return "&nbsp;&nbsp;&nbsp;".join(
        f"<span style='color:{colour}'>&#9473;&#9473;</span>&nbsp;<span style='color:#e8eaed'>{name}</span>"
        for plot, name, colour in SERIES.values() if plot == where
    )


class StepAxis(pg.AxisItem):
    """Steps are whole numbers: never a tick at 1.2 or 1.4."""

    def tickSpacing(self, minVal: float, maxVal: float, size: float):
        levels = [(spacing, offset) for spacing, offset in super().tickSpacing(minVal, maxVal, size) if spacing >= 1]
        return levels or [(1.0, 0.0)]

    def tickStrings(self, values, scale, spacing):
        return [f"{v * scale:.0f}" for v in values]


class LivePlot(QWidget):
    REDRAW_MS = 100

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground("#202124")
        self.loss_plot = self.canvas.addPlot(row=0, col=0, axisItems={"bottom": StepAxis("bottom")})
        self.conf_plot = self.canvas.addPlot(row=1, col=0, axisItems={"bottom": StepAxis("bottom")})
        self.loss_plot.setLabel("left", "loss")
        self.conf_plot.setLabel("left", "confidence")
        self.conf_plot.setYRange(0, 1, padding=0.08)
        self.conf_plot.getAxis("left").setTicks([[(0, "0"), (0.5, "50%"), (1, "100%")]])
        self.conf_plot.getAxis("left").setStyle(hideOverlappingLabels=False)  # keep 0 and 100% on a short plot
        self.conf_plot.setXLink(self.loss_plot)
        self.conf_plot.setLabel("bottom", "step")
        self.loss_plot.getAxis("bottom").setStyle(showValues=False)
        self.loss_plot.getAxis("left").enableAutoSIPrefix(False)  # a loss has no unit to prefix
        for plot in (self.loss_plot, self.conf_plot):
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setLimits(xMin=0)  # one point must not centre the axis on step 0 (-3 ... 5)
            plot.getAxis("left").setWidth(56)  # aligned plots whatever the tick labels
        plots = {"loss": self.loss_plot, "conf": self.conf_plot}
        self.steps: list[int] = []
        self.buffers: dict[str, list[float]] = {k: [] for k in SERIES}
        self.curves = {
            key: plots[where].plot([], [], pen=pg.mkPen(colour, width=2)) for key, (where, _, colour) in SERIES.items()
        }
        for where, plot in plots.items():
            plot.setTitle(legend_html(where), size="9pt")
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
        self._empty_range()

    def _empty_range(self) -> None:
        self.loss_plot.setXRange(0, EMPTY_STEPS, padding=0)
        self.loss_plot.setYRange(0, 1, padding=0)
        self.loss_plot.enableAutoRange(x=True, y=True)  # the first data re-ranges both

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
        if not self.steps:
            self._empty_range()
