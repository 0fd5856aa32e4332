"""A colour map's scale as a small picture (the Difference view's and the Noise tab's bars)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def colour_bar(table: np.ndarray, width: int = 96, height: int = 10) -> QPixmap:
    """A colour map's scale, low to high: `table` is its (256, 3) uint8 lookup table."""
    ramp = table[np.linspace(0, 255, width).astype(int)]
    rgb = np.ascontiguousarray(np.repeat(ramp[None], height, 0).astype(np.uint8))
    return QPixmap.fromImage(QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy())
