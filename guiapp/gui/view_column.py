"""The parts of the image views (image_views.ImageTriptych): one column (a bold title
over a pyqtgraph view of one image, with the model's crop outlined) and the small tool
buttons under them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QLabel, QSizePolicy, QToolButton

BACKGROUND = "#202124"
CROP_TIP = ("Dashed square: the part of the image the model classifies (its preprocessing resizes the short\n"
            "side and keeps the centre crop). Nothing outside it reaches the model, so the noise is only there.")


@dataclass
class ViewColumn:
    title: QLabel
    graphics: pg.GraphicsView
    box: pg.ViewBox
    item: pg.ImageItem  # the image drawn
    outline: QGraphicsRectItem  # the model's crop, dashed (hidden until there is one)


def view_column(title: str, font: QFont) -> ViewColumn:
    label = QLabel(title)
    label.setFont(font)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    # Ignored: a long title must not widen its column (equal thirds, always).
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
    view = pg.GraphicsView(background=BACKGROUND)
    view.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
    view.setMinimumSize(120, 90)
    view.setToolTip(CROP_TIP)
    box = pg.ViewBox(lockAspect=False, invertY=True, enableMenu=False)
    box.disableAutoRange()  # the triptych sets every view's range itself
    view.setCentralItem(box)
    item = pg.ImageItem(axisOrder="row-major", autoDownsample=True)
    box.addItem(item)
    outline = QGraphicsRectItem()
    pen = QPen(QColor("#fdd663"), 1.5, Qt.PenStyle.DashLine)
    pen.setCosmetic(True)  # the same width at every zoom
    outline.setPen(pen)
    outline.setZValue(10)
    outline.hide()
    box.addItem(outline)
    return ViewColumn(label, view, box, item, outline)


def tool_button(text: str, tip: str, slot: Callable[..., object], checkable: bool = False) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.setCheckable(checkable)
    (button.toggled if checkable else button.clicked).connect(slot)
    return button
