"""The swipe comparator's layer over the Adversarial view: the original drawn left of a
column, over the result, and a line at the split (image_views.py moves it with the pointer)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF


class SwipeOverlay:
    def __init__(self, view: pg.ViewBox) -> None:
        self.item = pg.ImageItem(axisOrder="row-major")
        self.item.setZValue(5)  # over the result, under the crop outline
        self.line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#fdd663", width=1))
        self.line.setZValue(11)
        for part in (self.item, self.line):
            part.hide()
            view.addItem(part)

    def split_at(self, original: np.ndarray, col: int) -> None:
        """`original` (as drawn) in columns 0..col-1, the result from `col` on."""
        h = original.shape[0]
        if col > 0:
            self.item.setImage(original[:, :col], levels=(0, 255))
            self.item.setRect(QRectF(0, 0, col, h))
            self.item.show()
        else:
            self.item.hide()
        self.line.setValue(col)
        self.line.show()

    def hide(self) -> None:
        self.item.hide()
        self.line.hide()
