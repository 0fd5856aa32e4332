"""An 8-bit RGB image in a label that scales it to the space it has."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy


def to_qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    return QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format.Format_RGB888).copy()


def to_pixmap(rgb: np.ndarray, width: int, height: int | None = None) -> QPixmap:
    return QPixmap.fromImage(to_qimage(rgb)).scaled(width, height or width, Qt.AspectRatioMode.KeepAspectRatio,
                                                   Qt.TransformationMode.SmoothTransformation)


class ImageLabel(QLabel):
    """Shows `rgb` as large as fits (up to `most` times its size), never below `least` px."""

    def __init__(self, tooltip: str = "", least: int = 64, most: float = 2.0) -> None:
        super().__init__()
        self.rgb: np.ndarray | None = None
        self.least, self.most = least, most
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(least, least)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setToolTip(tooltip)

    def show_rgb(self, rgb: np.ndarray | None) -> None:
        self.rgb = rgb
        self._render()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._render()

    def _render(self) -> None:
        if self.rgb is None:
            self.clear()
            return
        h, w = self.rgb.shape[:2]
        width = max(self.least, min(self.width(), int(w * self.most)))
        height = max(self.least, min(self.height(), int(h * self.most)))
        self.setPixmap(to_pixmap(self.rgb, width, height))

    def shown(self) -> bool:
        return self.pixmap() is not None and not self.pixmap().isNull()
