"""A colour map's scale: the map as a small bar, and the text that says its range (the
Difference view's and the Noise tab's)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QWidget


def colour_bar(table: np.ndarray, width: int = 96, height: int = 10) -> QPixmap:
    """A colour map's scale, low to high: `table` is its (256, 3) uint8 lookup table."""
    ramp = table[np.linspace(0, 255, width).astype(int)]
    rgb = np.ascontiguousarray(np.repeat(ramp[None], height, 0).astype(np.uint8))
    return QPixmap.fromImage(QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy())


class ScaleBar(QWidget):
    """`table`'s bar beside a label for its range (each run's own: setText)."""

    def __init__(self, table: np.ndarray, centred: bool = False) -> None:
        super().__init__()
        # Ignored width: it must never widen the column it sits in.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.bar, self.label = QLabel(), QLabel("")
        self.bar.setPixmap(colour_bar(table))
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        if centred:
            row.addStretch(1)
        row.addWidget(self.bar)
        row.addWidget(self.label)
        row.addStretch(1)

    def text(self) -> str:
        return self.label.text()

    def setText(self, text: str) -> None:  # noqa: N802 - the Qt name, as QLabel's
        self.label.setText(text)
