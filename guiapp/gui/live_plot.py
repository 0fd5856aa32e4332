"""Live curves of the optimisation: losses on top, confidences below, progress above both.

One curve per series fed from growing buffers; redraws are throttled to a timer so a
fast optimisation (tens of steps per second on GPU) never floods the event loop. The
progress line and the legend are Qt labels above the plots, where no curve can run
through them and where they wrap instead of widening the plots (text inside the plot
scene set the scene's minimum width: at 1024 px the plots were wider than their widget
and cut at step 6). The legend names only the series the run has (no flat "centroid
loss" when that term is off). The progress line says how far the run is and how long is
left. Green dots are the
"as saved" checks: what the crafting models see in the 8-bit image through the standard
preprocessing, which the optimiser's own (possibly randomised) view can differ from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pyqtgraph as pg
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QGraphicsView, QLabel, QVBoxLayout, QWidget

from ..core.attacks import StepRecord

SERIES = {
    # key: (plot, legend name, colour)
    "class_loss": ("loss", "class loss", "#8ab4f8"),
    "centroid_loss": ("loss", "centroid loss", "#f28b82"),
    "target_conf": ("conf", "target", "#81c995"),
    "source_conf": ("conf", "source", "#fdd663"),
}
CHECK_COLOUR = "#34a853"
VICTIM_COLOUR = "#ff8bcb"  # the query mode's questions: the victim's own score of the target
EMPTY_STEPS = 10  # the step axis before the first step arrives
TIP = ("Losses (top) and confidences (bottom) as the optimiser sees them, per step.\n"
       "Dots: the target's confidence in the 8-bit image as saved, through the standard preprocessing\n"
       "(what the crafting models will see in the file; the optimiser's view can differ, e.g. on the\n"
       "randomly resized copies of transfer mode). Diamonds (query mode): the victim's own score of the\n"
       "target for each question (at 100% when it agreed but gave no score). Dashed line: the first step\n"
       "that hit the target.")


def legend_html(hidden: frozenset[str] = frozenset(), checks: bool = False, victim: bool = False) -> str:
    """The legend: for each plot, its name and a coloured bar and the name of each shown
    series (an item never breaks inside; the line wraps between items)."""
    groups = []
    for where, title in (("loss", "loss"), ("conf", "confidence")):
        parts = [f"<span style='color:{colour}'>&#9473;&#9473;</span>&nbsp;{name.replace(' ', '&nbsp;')}"
                 for key, (plot, name, colour) in SERIES.items() if plot == where and key not in hidden]
        if checks and where == "conf":
            parts.append(f"<span style='color:{CHECK_COLOUR}'>&#9679;</span>&nbsp;as&nbsp;saved")
        if victim and where == "conf":
            parts.append(f"<span style='color:{VICTIM_COLOUR}'>&#9670;</span>&nbsp;victim")
        groups.append(f"<span style='color:#9aa0a6'>{title}:</span> " + " &nbsp; ".join(parts))
    return " &nbsp;&nbsp; ".join(groups)


class StepAxis(pg.AxisItem):
    """Steps are whole numbers: never a tick at 1.2 or 1.4."""

    def tickSpacing(self, minVal: float, maxVal: float, size: float):
        levels = [(spacing, offset) for spacing, offset in super().tickSpacing(minVal, maxVal, size) if spacing >= 1]
        return levels or [(1.0, 0.0)]

    def tickStrings(self, values, scale, spacing):
        return [f"{v * scale:.0f}" for v in values]


@dataclass
class PlotData:
    """Everything the plot shows for one run (kept by the run history to show it again)."""

    steps: list[int] = field(default_factory=list)
    buffers: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in SERIES})
    checks: list[tuple[int, float]] = field(default_factory=list)  # (step, target conf as saved)
    victim: list[tuple[int, float]] = field(default_factory=list)  # (step, the victim's target score)
    success_step: int | None = None
    hidden: frozenset[str] = frozenset()
    budget: int = 0
    stops_early: bool = True
    progress: str = ""


class LivePlot(QWidget):
    REDRAW_MS = 100

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setToolTip(TIP)
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground("#202124")
        self.canvas.setMinimumSize(160, 120)
        self.progress_label = QLabel("")
        self.legend = QLabel("")
        for label in (self.progress_label, self.legend):
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setStyleSheet("QLabel { background: #202124; color: #e8eaed; padding: 2px 6px; }")
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
            plot.setMenuEnabled(False)
        self.plots = {"loss": self.loss_plot, "conf": self.conf_plot}
        self.data = PlotData()
        self.curves = {
            key: self.plots[where].plot([], [], pen=pg.mkPen(colour, width=2))
            for key, (where, _, colour) in SERIES.items()
        }
        self.check_points = self.conf_plot.plot([], [], pen=None, symbol="o", symbolSize=7,
                                                symbolBrush=CHECK_COLOUR, symbolPen="#202124")
        self.victim_points = self.conf_plot.plot([], [], pen=None, symbol="d", symbolSize=9,
                                                 symbolBrush=VICTIM_COLOUR, symbolPen="#202124")
        self.success_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#81c995", style=pg.QtCore.Qt.DashLine))
        self.success_line.hide()
        self.conf_plot.addItem(self.success_line)
        self._dirty = True
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._redraw)
        self.timer.start(self.REDRAW_MS)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.legend)
        layout.addWidget(self.canvas, 1)
        self._show_legends()
        self._redraw()

    # ---------------------------------------------------------------- feeding
    def clear(self, budget: int = 0, stops_early: bool = True) -> None:
        """Forget the last run; `budget`: the most steps the next run may take."""
        self.data = PlotData(budget=budget, stops_early=stops_early)
        self.success_line.hide()
        self._show_legends()
        self._dirty = True

    def set_series_shown(self, centroid_loss: bool) -> None:
        """Hide the centroid loss of a run whose centroid term is off (a flat 0 says nothing)."""
        self.data.hidden = frozenset() if centroid_loss else frozenset({"centroid_loss"})
        self._show_legends()
        self._dirty = True

    def set_progress(self, text: str) -> None:
        if text != self.data.progress:
            self.data.progress = text
            self.progress_label.setText(text)
            self.progress_label.setVisible(bool(text))

    def add(self, record: StepRecord) -> None:
        d = self.data
        if record.phase == "query":  # a question to the victim: a point of its own, not a step of the curves
            first = not d.victim
            d.victim.append((record.step, record.target_conf if math.isfinite(record.target_conf) else 0.0))
            if record.adversarial and d.success_step is None:
                d.success_step = record.step
            if first:
                self._show_legends()
            self._dirty = True
            return
        d.steps.append(record.step)
        for key, buf in d.buffers.items():
            value = getattr(record, key)
            buf.append(value if math.isfinite(value) else float("nan"))
        if record.adversarial and d.success_step is None:
            d.success_step = record.step
        self._dirty = True

    def add_check(self, step: int, target_conf: float) -> None:
        first = not self.data.checks
        self.data.checks.append((step, target_conf))
        if first:
            self._show_legends()
        self._dirty = True

    def point_count(self) -> int:
        return len(self.data.steps)

    # ---------------------------------------------------------------- a run again
    def snapshot(self) -> PlotData:
        d = self.data
        return PlotData(list(d.steps), {k: list(v) for k, v in d.buffers.items()}, list(d.checks), list(d.victim),
                        d.success_step, d.hidden, d.budget, d.stops_early, d.progress)

    def restore(self, data: PlotData) -> None:
        self.data = PlotData(list(data.steps), {k: list(v) for k, v in data.buffers.items()}, list(data.checks),
                             list(data.victim), data.success_step, data.hidden, data.budget, data.stops_early, "")
        self.set_progress(data.progress)
        self._show_legends()
        self._dirty = True
        self._redraw()

    # ---------------------------------------------------------------- drawing
    def _show_legends(self) -> None:
        self.legend.setText(legend_html(self.data.hidden, bool(self.data.checks), bool(self.data.victim)))
        self.progress_label.setText(self.data.progress)
        self.progress_label.setVisible(bool(self.data.progress))

    def x_extent(self) -> float:
        """The last step the axis must show: the budget of a run that uses it all, else the
        last step seen (at least EMPTY_STEPS)."""
        d = self.data
        last = max(d.steps[-1] if d.steps else 0, EMPTY_STEPS)
        if d.budget and not d.stops_early:
            last = max(last, d.budget)
        return last

    def _redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        d = self.data
        for key, curve in self.curves.items():
            curve.setData(d.steps, d.buffers[key])
            curve.setVisible(key not in d.hidden)
        self.check_points.setData([s for s, _ in d.checks], [c for _, c in d.checks])
        self.victim_points.setData([s for s, _ in d.victim], [c for _, c in d.victim])
        if d.success_step is not None:
            self.success_line.setValue(d.success_step)
            self.success_line.show()
        else:
            self.success_line.hide()
        self.loss_plot.setXRange(0, self.x_extent(), padding=0.02)
        shown = [v for key in SERIES if SERIES[key][0] == "loss" and key not in d.hidden
                 for v in d.buffers[key] if math.isfinite(v)]
        if shown:
            low, high = min(shown), max(shown)
            pad = (high - low) * 0.08 or 0.5
            self.loss_plot.setYRange(low - pad, high + pad, padding=0)
        else:
            self.loss_plot.setYRange(0, 1, padding=0)

    # ---------------------------------------------------------------- export
    def image(self):
        """The plot as shown (progress line, legend, both plots), as a QImage at twice the
        screen resolution."""
        self._dirty = True
        self._redraw()
        ratio = 2.0
        image = QImage(self.size() * ratio, QImage.Format.Format_ARGB32)
        image.setDevicePixelRatio(ratio)
        image.fill(QColor("#202124"))
        self.render(image)
        return image

    def export(self, path: str) -> None:
        """Write the plot as shown (progress line, legend, both plots) as PNG (at twice the
        screen resolution) or SVG (vector: Qt's SVG painter; pyqtgraph's own SVG exporter
        cannot read the paths this Qt writes), by the file's suffix."""
        if not path.lower().endswith(".svg"):
            self.image().save(path, "PNG")
            return
        from PySide6.QtGui import QPainter
        from PySide6.QtSvg import QSvgGenerator

        self._dirty = True
        self._redraw()
        generator = QSvgGenerator()
        generator.setFileName(path)
        generator.setSize(self.size())
        generator.setViewBox(self.rect())
        generator.setTitle("guiapp: loss and confidence per step")
        # Drawn as vectors, not as the pixmaps the screen is painted from (issue 34 item 6:
        # the as-saved dots were 8x8 bitmaps and the background a raster of the whole plot):
        # the view's cached background and the dots' cached symbols are off while it renders.
        view, scatters = self.canvas, [item.scatter for item in (self.check_points, self.victim_points)]
        cache_mode, symbol_caches = view.cacheMode(), [sc.opts["useCache"] for sc in scatters]
        view.setCacheMode(QGraphicsView.CacheModeFlag.CacheNone)
        for sc in scatters:
            sc.opts["useCache"] = False
        painter = QPainter(generator)
        try:
            self.render(painter, QPoint(0, 0))
        finally:
            painter.end()
            view.setCacheMode(cache_mode)
            for sc, cached in zip(scatters, symbol_caches, strict=True):
                sc.opts["useCache"] = cached
