"""Two tabs that explain a result: the noise looked at properly, and what the model sees.

- Noise: where the noise is and how strong (a magnitude heatmap: the largest change over
  the channels), each channel's signed change (blue lowered, red raised), the histogram
  of the changes per channel, and a summary line. Computed by guiapp.core.noise_stats.
- Model's view: the crop the model classifies (also outlined on the three views above)
  with a saliency map over it (guiapp.core.saliency: Grad-CAM or gradient x input from
  the model's own layers), for the original and its class and for the result and the
  target, so a teacher can show *why* the label changed.

Both are computed off the GUI thread; the saliency maps only when their tab is shown.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ..core.defences import model_view
from ..core.noise_stats import CHANNELS, DIVERGING, HEAT, channel_image, heatmap, noise_stats, overlay
from ..core.predict import classify_pil
from ..core.saliency import METHODS, saliency
from .colour_bar import ScaleBar
from .image_label import ImageLabel
from .jobs import Jobs

CHANNEL_COLOURS = ("#f28b82", "#81c995", "#8ab4f8")
LABEL_SPACE_PX = 80  # a decade at least this tall also labels 2 and 5 times its power of ten


class CountAxis(pg.AxisItem):
    """The histogram's log axis. pyqtgraph labels every tick, 2..9 x 10^k included, and on a
    panel a few hundred pixels tall those labels print over each other. Here only powers of
    ten are labelled (and 2 and 5 times them where a decade has room); every tick stays."""

    def logTickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        strings = super().logTickStrings(values, scale, spacing)
        low, high = self.range
        per_decade = self.geometry().height() / max(high - low, 1e-9)
        wanted = (1, 2, 5) if per_decade >= LABEL_SPACE_PX else (1,)
        kept = []
        for value, text in zip(values, strings, strict=True):  # value: log10 of the count
            mantissa = 10 ** (value - math.floor(value + 1e-6))
            kept.append(text if any(abs(mantissa - m) < 1e-3 for m in wanted) else "")
        return kept



def _captioned(label: QLabel, image: ImageLabel) -> QWidget:
    box = QWidget()
    col = QVBoxLayout(box)
    col.setContentsMargins(0, 0, 0, 0)
    col.setSpacing(2)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    col.addWidget(label)
    col.addWidget(image, 1)
    return box


class NoisePanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel("Run an attack to see its noise.")
        self.summary.setWordWrap(True)
        self.magnitude = ImageLabel("The largest change over the three channels at each pixel: dark = unchanged, "
                                    "bright = the full budget", least=80, most=4)
        self.channels = [ImageLabel(f"{name} channel: blue = lowered, grey = unchanged, red = raised", least=48,
                                    most=4) for name in CHANNELS]
        self.histogram = pg.PlotWidget(background="#202124", axisItems={"left": CountAxis("left")})
        self.histogram.setMinimumSize(160, 100)
        self.histogram.setLabel("bottom", "change (8-bit levels)")
        self.histogram.setLabel("left", "pixels")
        self.histogram.setLogMode(y=True)
        self.histogram.setMenuEnabled(False)
        self.histogram.setToolTip("How many pixels of each channel changed by each amount (log scale)")
        self.curves = [self.histogram.plot([], [], pen=pg.mkPen(c, width=2), stepMode="center")
                       for c in CHANNEL_COLOURS]
        # Colour bars: which colour is how many levels (the range is each run's own).
        self.magnitude_range, self.channel_range = ScaleBar(HEAT), ScaleBar(DIVERGING)
        magnitude = QVBoxLayout()
        magnitude.addWidget(_captioned(QLabel("magnitude"), self.magnitude), 1)
        magnitude.addWidget(self.magnitude_range)
        row = QHBoxLayout()
        row.addLayout(magnitude, 3)
        chans = QGridLayout()
        for i, (name, image) in enumerate(zip(CHANNELS, self.channels, strict=True)):
            chans.addWidget(_captioned(QLabel(name), image), i // 2, i % 2)
        chans.addWidget(self.channel_range, 2, 0, 1, 2)
        row.addLayout(chans, 3)
        row.addWidget(self.histogram, 3)
        col = QVBoxLayout(self)
        col.setContentsMargins(4, 4, 4, 4)
        col.addWidget(self.summary)
        col.addLayout(row, 1)

    def clear(self) -> None:
        self.summary.setText("Run an attack to see its noise.")
        self.magnitude_range.setText("")
        self.channel_range.setText("")
        for image in (self.magnitude, *self.channels):
            image.show_rgb(None)
        for curve in self.curves:
            curve.setData([], [])

    def show_stats(self, stats: Any) -> None:
        self.summary.setText(stats.summary())
        # The same tops heatmap() and channel_image() scale to, said beside their bars.
        top = max(1, int(stats.magnitude.max()))
        spread = max(1, int(np.abs(stats.diff).max()))
        self.magnitude.show_rgb(heatmap(stats.magnitude, top))
        self.magnitude_range.setText(f"0 … {top} levels")
        for c, image in enumerate(self.channels):
            image.show_rgb(channel_image(stats.diff, c, spread))
        self.channel_range.setText(f"-{spread} … 0 … +{spread} levels")
        edges = np.append(stats.levels - 0.5, stats.levels[-1] + 0.5)
        for c, curve in enumerate(self.curves):
            curve.setData(edges, np.maximum(stats.counts[c], 0.5))  # log scale: 0 drawn at the floor


class SaliencyPanel(QWidget):
    method_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.method = QComboBox()
        for key, text in METHODS.items():
            self.method.addItem(text, key)
        self.method.setToolTip("Grad-CAM: where the model's last convolution finds evidence for the class.\n"
                               "Gradient x input: which pixels change the class score most, times their value.")
        self.method.currentIndexChanged.connect(lambda _: self.method_changed.emit())
        self.note = QLabel("The model classifies only the centre square outlined (dashed) on the views above: "
                           "the short side is resized and the centre cropped. In the default mode the noise "
                           "appears only there; the transfer mode covers the whole photo, because the models it "
                           "must fool may see the photo differently. "
                           "Bright: where the model finds evidence for the class.")
        self.note.setWordWrap(True)
        self.captions = [QLabel("Original"), QLabel("Result")]
        self.maps = [ImageLabel("The original's crop, with the evidence for the class the model sees in it",
                                least=96, most=2),
                     ImageLabel("The result's crop, with the evidence for the target", least=96, most=2)]
        self.raw: list[np.ndarray | None] = [None, None]  # the last maps, (crop, crop) in [0, 1]
        top = QHBoxLayout()
        top.addWidget(QLabel("Saliency"))
        top.addWidget(self.method)
        top.addStretch(1)
        row = QHBoxLayout()
        for caption, image in zip(self.captions, self.maps, strict=True):
            caption.setWordWrap(True)
            row.addWidget(_captioned(caption, image), 1)
        col = QVBoxLayout(self)
        col.setContentsMargins(4, 4, 4, 4)
        col.addLayout(top)
        col.addWidget(self.note)
        col.addLayout(row, 1)

    def current_method(self) -> str:
        return self.method.currentData()

    def clear(self, which: tuple[int, ...] = (0, 1)) -> None:
        for i in which:
            self.maps[i].show_rgb(None)
            self.raw[i] = None
            self.captions[i].setText(("Original", "Result")[i])

    def show_map(self, i: int, view: np.ndarray, cam: np.ndarray, caption: str) -> None:
        self.raw[i] = cam
        self.maps[i].show_rgb(overlay_map(view, cam))
        self.captions[i].setText(caption)


def overlay_map(view: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """The crop with its saliency map over it, as the Model's view tab shows it."""
    return overlay(view, heatmap(cam * 255, 255), 0.25 + 0.5 * cam)


def saliency_maps(model: Any, original: np.ndarray, run: Any, method: str) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(crop, map, caption) for the original and its class, then (with a run) for its
    result and its target. Slow (a backward pass each): call it off the GUI thread."""
    source = int(classify_pil(model, _pil(original)).argmax())
    out = [(model_view(original, model.spec), saliency(model, original, source, method),
            f"Original: why {model.labels[source].name}")]
    if run is not None:
        adversarial, target = run.result.adversarial, run.plan.target
        out.append((model_view(adversarial, model.spec), saliency(model, adversarial, target, method),
                    f"Result: why {model.labels[target].name}"))
    return out


class Insights(QObject):
    """Feeds the two panels for the window's image and shown run."""

    saliency_done = Signal()
    noise_done = Signal()

    def __init__(self, jobs: Jobs, noise: NoisePanel, maps: SaliencyPanel) -> None:
        super().__init__(noise)
        self.jobs, self.noise, self.maps = jobs, noise, maps
        self.model: Any = None
        self.original: np.ndarray | None = None
        self.run: Any = None
        self.maps_wanted = False  # is the Model's view tab shown
        self._maps_for: tuple | None = None  # what the shown maps were made for
        maps.method_changed.connect(self.refresh_maps)

    def set_original(self, model: Any, rgb: np.ndarray | None) -> None:
        self.model, self.original, self.run = model, rgb, None
        self.jobs.drop("noise", "saliency")
        self.noise.clear()
        self.maps.clear()
        self._maps_for = None
        self.refresh_maps()

    def clear_result(self) -> None:
        self.run = None
        self.jobs.drop("noise", "saliency")  # a late map of the last run must not land on this one
        self.noise.clear()
        self.maps.clear((1,))
        self._maps_for = None

    def show_result(self, model: Any, run: Any) -> None:
        self.model, self.run = model, run
        original, adversarial = run.plan.image.rgb, run.result.adversarial
        self.jobs.run("noise", lambda: noise_stats(original, adversarial), self._noise_done,
                      message="Measuring the noise…")
        self.refresh_maps()

    def _noise_done(self, stats: Any) -> None:
        self.noise.show_stats(stats)
        self.noise_done.emit()

    def set_maps_wanted(self, wanted: bool) -> None:
        self.maps_wanted = wanted
        self.refresh_maps()

    def refresh_maps(self) -> None:
        """Compute the saliency maps if their tab is shown and they are not up to date."""
        model, original, run, method = self.model, self.original, self.run, self.maps.current_method()
        if not self.maps_wanted or model is None or original is None:
            return
        key = (id(model), id(original), id(run), method)
        if key == self._maps_for:
            return
        self._maps_for = key

        def work():
            return saliency_maps(model, original, run, method)

        def done(maps) -> None:
            self.maps.clear((1,))
            for i, (view, cam, caption) in enumerate(maps):
                self.maps.show_map(i, view, cam, caption)
            self.saliency_done.emit()

        self.jobs.run("saliency", work, done, message="Computing the saliency maps…")


def _pil(rgb: np.ndarray):
    from PIL import Image

    return Image.fromarray(rgb)
