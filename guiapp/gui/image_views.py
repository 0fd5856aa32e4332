"""Original, adversarial and amplified difference side by side, zoom and pan in sync.

pyqtgraph ViewBoxes linked on both axes give synchronised zoom/pan for free, and
ImageItem's auto-downsampling keeps multi-megapixel photos smooth.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget


def amplified_difference(original: np.ndarray, adversarial: np.ndarray, factor: int) -> np.ndarray:
    """Mid-grey where nothing changed; each 1/255 change shown `factor` times larger."""
    diff = adversarial.astype(np.int16) - original.astype(np.int16)
    return np.clip(128 + diff * factor, 0, 255).astype(np.uint8)


class ImageTriptych(QWidget):
    TITLES = ("Original", "Adversarial", "Difference")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.original: np.ndarray | None = None
        self.adversarial: np.ndarray | None = None
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground("#202124")
        self.titles: list[pg.LabelItem] = []
        self.views: list[pg.ViewBox] = []
        self.items: list[pg.ImageItem] = []
        for col, title in enumerate(self.TITLES):
            label = self.canvas.addLabel(title, row=0, col=col, color="#e8eaed", size="10pt")
            vb = self.canvas.addViewBox(row=1, col=col, lockAspect=True, invertY=True, enableMenu=False)
            item = pg.ImageItem(axisOrder="row-major", autoDownsample=True)
            vb.addItem(item)
            if self.views:
                vb.setXLink(self.views[0])
                vb.setYLink(self.views[0])
            self.titles.append(label)
            self.views.append(vb)
            self.items.append(item)

        self.factor = QSpinBox()
        self.factor.setRange(1, 128)
        self.factor.setValue(20)
        self.factor.setSuffix("x")
        self.factor.setToolTip("How much the difference image amplifies the noise (mid-grey = unchanged)")
        self.factor.valueChanged.connect(self._refresh_difference)
        self.hint = QLabel("Open an image (File > Open, drag and drop, or a sample) to begin.")
        self.hint.setStyleSheet("color: #9aa0a6;")

        bar = QHBoxLayout()
        bar.addWidget(self.hint, 1)
        bar.addWidget(QLabel("Difference gain"))
        bar.addWidget(self.factor)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas, 1)
        layout.addLayout(bar)

    def set_original(self, image: np.ndarray, caption: str = "") -> None:
        self.original, self.adversarial = image, None
        self.items[0].setImage(image, levels=(0, 255))
        for item in self.items[1:]:
            item.clear()
        self.titles[1].setText(self.TITLES[1])
        self.hint.setText(caption)
        self.views[0].autoRange(padding=0.02)

    def set_adversarial(self, image: np.ndarray, title: str | None = None) -> None:
        self.adversarial = image
        self.items[1].setImage(image, levels=(0, 255))
        if title:
            self.titles[1].setText(title)
        self._refresh_difference()

    def _refresh_difference(self) -> None:
        if self.original is None or self.adversarial is None:
            return
        diff = amplified_difference(self.original, self.adversarial, self.factor.value())
        self.items[2].setImage(diff, levels=(0, 255))
        self.titles[2].setText(f"Difference x{self.factor.value()}")

    def filled(self) -> list[bool]:
        return [item.image is not None for item in self.items]
