"""Original, adversarial and amplified difference side by side, at one scale, in sync.

The three views share the width equally and always show the same region of the image at
the same scale. We keep that state ourselves (a scale in screen pixels per image pixel and
the image point at the centre) and give every view the range its own size needs:
pyqtgraph's axis links with locked aspect ratios let views of different sizes correct each
other, which shrank the image a little on every run. "Fit" (on open, on resize) scales the
whole image into the views; zooming (wheel) or panning (drag) in any view leaves fit mode
and moves all three. A dashed square on each view outlines the crop the model classifies
(View > Model's crop): the default mode's noise appears only inside it (the transfer
mode's covers the whole photo).

Judging "looks unchanged" by eye: *Blink* (B) shows the original in the Adversarial view's
place, and again the result, so a change shows as flicker at the same spot; *Swipe* (W)
shows the original left of the pointer and the result right of it; the views zoom
to 100%, 200% and 400% (keys 1, 2, 4) as a loupe; the pointer's pixel is read out under the
views (position, original, result and their difference), and a colour bar under the
Difference view says which grey is how many levels of change.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QGraphicsRectItem,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .colour_bar import ScaleBar
from .swipe_overlay import SwipeOverlay
from .view_column import tool_button, view_column
from .view_pixels import GREYS, amplified_difference, over_checkerboard, pixel_readout


class ImageTriptych(QWidget):
    TITLES = ("Original", "Adversarial", "Difference")
    zoom_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.original: np.ndarray | None = None
        self.adversarial: np.ndarray | None = None
        self._scale = 1.0  # screen (logical) pixels per image pixel
        self._centre = (0.0, 0.0)  # image point (x, y) at the centre of every view
        self._fit = True
        self._applying = False
        self._step = 1  # every k-th pixel drawn (live previews of large photos)
        self.alpha: np.ndarray | None = None  # the image's transparency, if it has any

        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(4)
        grid.setVerticalSpacing(2)
        title_font = QFont(self.font())
        title_font.setBold(True)
        self.titles: list[QLabel] = []
        self.graphics: list[pg.GraphicsView] = []
        self.views: list[pg.ViewBox] = []
        self.items: list[pg.ImageItem] = []
        self.crop_items: list[QGraphicsRectItem] = []
        self.crop: tuple[float, float, float, float] | None = None
        self._crop_on = True
        for col, title in enumerate(self.TITLES):
            column = view_column(title, title_font)
            label, view, vb, item = column.title, column.graphics, column.box, column.item
            self.crop_items.append(column.outline)
            if col == 1:
                self.swipe_overlay = SwipeOverlay(vb)  # hidden until Swipe is on
            vb.sigRangeChangedManually.connect(lambda _mask, vb=vb: self._user_moved(vb))
            vb.sigResized.connect(self._resized)
            view.scene().sigMouseMoved.connect(lambda pos, vb=vb: self._pointer_at(vb, pos))
            grid.addWidget(label, 0, col)
            grid.addWidget(view, 1, col)
            grid.setColumnStretch(col, 1)
            self.titles.append(label)
            self.graphics.append(view)
            self.views.append(vb)
            self.items.append(item)
        grid.setRowStretch(1, 1)

        self.caption = QLabel("Open an image (File > Open, drag and drop, or a sample) to begin.")
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.zoom_label = QLabel("")
        self.zoom_label.setToolTip("Zoom of the three views (100% = one image pixel per screen pixel)")
        self.fit_button = tool_button("Fit", "Show the whole image (F)", self.fit)
        self.actual_button = tool_button("100%", "One image pixel per screen pixel (1)", self.actual_size)
        self.factor = QSpinBox()
        self.factor.setRange(1, 128)
        self.factor.setValue(20)
        self.factor.setSuffix("x")
        self.factor.setToolTip("How much the difference image amplifies the noise (mid-grey = unchanged)")
        self.factor.valueChanged.connect(self._refresh_difference)
        self.readout = QLabel("")
        self.readout.hide()
        self.readout.setToolTip("The pixel under the pointer: (x, y), original → result (R G B), and the change")
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.blink_button = tool_button("Blink", "Show the original in the Adversarial view's place, and again "
                                        "the result (B): a change shows as flicker at the same spot", self.blink,
                                        checkable=True)
        self.swipe_button = tool_button("Swipe", "In the Adversarial view, the original left of the pointer and "
                                        "the result right of it (W): move across an edge to see what changed",
                                        self.swipe, checkable=True)
        self._swipe_x: float | None = None
        # Under the Difference view: its colour scale, in levels of change.
        self.difference_scale = ScaleBar(GREYS, centred=True)
        # Shown with a difference only (a range over an empty view says nothing); its room is
        # kept while hidden, so the views do not jump when the first result arrives.
        policy = self.difference_scale.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self.difference_scale.setSizePolicy(policy)
        self.difference_scale.hide()
        self.factor.valueChanged.connect(self._show_scale)
        grid.addWidget(self.difference_scale, 2, 2)
        bar = QHBoxLayout()
        bar.addWidget(self.caption, 1)
        bar.addWidget(self.readout, 1)
        bar.addWidget(self.blink_button)
        bar.addWidget(self.swipe_button)
        bar.addWidget(self.zoom_label)
        bar.addWidget(self.fit_button)
        bar.addWidget(self.actual_button)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Difference gain"))
        bar.addWidget(self.factor)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(grid, 1)
        layout.addLayout(bar)
        self._show_zoom()
        self._show_scale()

    # ---------------------------------------------------------------- content
    def set_original(self, image: np.ndarray, caption: str = "", alpha: np.ndarray | None = None) -> None:
        """`alpha`: the file's transparency (kept in the output), shown over a checkerboard
        in the Original and Adversarial views (the noise is in the colour channels only)."""
        self.original, self.adversarial, self.alpha = image, None, alpha
        # As drawn (over the checkerboard when transparent): once here, not per pointer move.
        self._original_shown = image if alpha is None else over_checkerboard(image, alpha)
        self._step = 1
        self.blink_button.setChecked(False)
        self.swipe_button.setChecked(False)
        self._set(self.items[0], image)
        for item in self.items[1:]:
            item.clear()
        self.difference_scale.hide()  # the last image's result went with it
        self._title = self.TITLES[1]
        self.set_crop(None)  # the last image's; the window sets this one's once it knows the model
        for label, title in zip(self.titles, self.TITLES, strict=True):
            label.setText(title)
        self.caption.setText(caption)
        self.fit()

    def set_adversarial(self, image: np.ndarray, title: str | None = None, preview: bool = False) -> None:
        """Show an adversarial image (and its difference). `preview`: an iterate during a
        run, drawn at no more pixels than the views show (every k-th pixel of a large
        photo), so a live preview costs the attack little time; the result is shown whole."""
        self.adversarial = image
        self._step = self._preview_step() if preview else 1
        self._set(self.items[1], self.original if self.blinked and self.original is not None else image)
        if title:
            self._title = title
            self.titles[1].setText(self._blink_title())
        self._refresh_difference()
        self.set_crop(self.crop)

    def _preview_step(self) -> int:
        if self.original is None or self._scale <= 0:
            return 1
        return max(1, int(1 / (self._scale * self.devicePixelRatioF())))

    def _set(self, item: pg.ImageItem, image: np.ndarray) -> None:
        k = self._step
        shown = image[::k, ::k] if k > 1 else image
        if image is self.original and k == 1:
            shown = self._original_shown  # composited once per image (set_original)
        elif self.alpha is not None and self.alpha.shape == image.shape[:2]:
            shown = over_checkerboard(shown, self.alpha[::k, ::k] if k > 1 else self.alpha)
        item.setImage(shown, levels=(0, 255))
        h, w = image.shape[:2]
        item.setRect(QRectF(0, 0, w, h))  # image pixels, whatever was drawn

    def set_adversarial_title(self, title: str) -> None:
        self._title = title
        self.titles[1].setText(self._blink_title())

    _title = TITLES[1]

    def _blink_title(self) -> str:
        return "Original (blink: B shows the result)" if self.blinked else self._title

    def blink(self, on: bool) -> None:
        """Show the original in the Adversarial view (on), or the result again (off)."""
        on = bool(on) and self.adversarial is not None
        if self.blink_button.isChecked() != on:
            self.blink_button.setChecked(on)  # (calls back here once, with the same value)
            return
        if self.adversarial is not None and self.original is not None:
            self._set(self.items[1], self.original if on else self.adversarial)
        self.titles[1].setText(self._blink_title())

    def toggle_blink(self) -> None:
        self.blink(not self.blinked)

    @property
    def blinked(self) -> bool:
        """The Adversarial view shows the original (the Blink button is down)."""
        return self.blink_button.isChecked()

    # ---------------------------------------------------------------- swipe
    def swipe(self, on: bool) -> None:
        """Swipe on: the Adversarial view shows the original left of the pointer."""
        on = bool(on) and self.adversarial is not None and self.original is not None
        if self.swipe_button.isChecked() != on:
            self.swipe_button.setChecked(on)
            return
        if on and self.original is not None:
            self.swipe_at(self._swipe_x if self._swipe_x is not None else self.original.shape[1] / 2)
        else:
            self.swipe_overlay.hide()

    def toggle_swipe(self) -> None:
        self.swipe(not self.swipe_button.isChecked())

    def swipe_at(self, x: float) -> None:
        """Split the Adversarial view at image column `x`: the original left of it."""
        if self.original is None or not self.swipe_button.isChecked():
            return
        col = int(min(max(x, 0), self.original.shape[1]))  # the pixel under the pointer and right of it: the result
        self._swipe_x = col
        self.swipe_overlay.split_at(self._original_shown, col)

    def _pointer_at(self, vb: pg.ViewBox, scene_pos) -> None:
        text = ""
        if self.original is not None and vb.sceneBoundingRect().contains(scene_pos):
            point = vb.mapSceneToView(scene_pos)
            text = pixel_readout(self.original, self.adversarial, point.x(), point.y())
            if vb is self.views[1]:
                self.swipe_at(point.x())
        self.readout.setText(text)
        self.readout.setVisible(bool(text))  # hidden, it leaves the image line its room

    def _show_scale(self) -> None:
        factor = self.factor.value()
        span = 128 / factor
        self.difference_scale.setText(f"±{span:.3g} levels")  # short: the column is a third of a small window
        self.difference_scale.bar.setToolTip(
            f"Difference view: mid-grey is unchanged; black is {span:.3g} levels darker or more, white "
            f"{span:.3g} levels brighter or more (gain x{factor})")

    def clear_adversarial(self) -> None:
        self.blink_button.setChecked(False)
        self.swipe_button.setChecked(False)
        self.adversarial = None
        for item in self.items[1:]:
            item.clear()
        self.difference_scale.hide()
        self.set_crop(self.crop)
        self._title = self.TITLES[1]
        self.titles[1].setText(self.TITLES[1])
        self.titles[2].setText(self.TITLES[2])

    def set_crop(self, rect: tuple[float, float, float, float] | None) -> None:
        """Outline (x, y, w, h), in image pixels, on every view (None: no outline)."""
        self.crop = rect
        for outline, item in zip(self.crop_items, self.items, strict=True):
            if rect is not None:
                outline.setRect(QRectF(*rect))
            # only over an image (an empty view with a square in it explains nothing)
            outline.setVisible(rect is not None and self._crop_on and item.image is not None)

    def show_crop(self, on: bool) -> None:
        self._crop_on = bool(on)
        self.set_crop(self.crop)

    def crop_shown(self) -> bool:
        return all(outline.isVisible() for outline, item in zip(self.crop_items, self.items, strict=True)
                   if item.image is not None) and self.crop is not None and self._crop_on

    def _refresh_difference(self) -> None:
        if self.original is None or self.adversarial is None:
            return
        k = self._step
        diff = amplified_difference(self.original[::k, ::k], self.adversarial[::k, ::k], self.factor.value())
        self.items[2].setImage(diff, levels=(0, 255))
        self.difference_scale.show()
        h, w = self.original.shape[:2]
        self.items[2].setRect(QRectF(0, 0, w, h))
        self.titles[2].setText(f"Difference x{self.factor.value()}")

    def filled(self) -> list[bool]:
        return [item.image is not None for item in self.items]

    # ---------------------------------------------------------------- zoom and pan
    @property
    def fitted(self) -> bool:
        return self._fit

    def zoom_percent(self) -> float:
        return self._scale * self.devicePixelRatioF() * 100

    def fit(self) -> None:
        """Scale the whole image into the views, centred (F)."""
        self._fit = True
        self._fit_scale()
        self._apply()

    def actual_size(self, factor: float = 1.0) -> None:
        """`factor` screen pixels per image pixel around the current centre: 100% (1), and
        as a loupe 200% (2) or 400% (4)."""
        self._fit = False
        self._scale = factor / self.devicePixelRatioF()
        self._apply()

    def _fit_scale(self) -> None:
        if self.original is None:
            return
        h, w = self.original.shape[:2]
        sizes = [(vb.width(), vb.height()) for vb in self.views]
        vw, vh = min(s[0] for s in sizes), min(s[1] for s in sizes)
        if vw <= 1 or vh <= 1:
            return  # not laid out yet: the first resize fits
        self._scale = min(vw / w, vh / h)
        self._centre = (w / 2, h / 2)

    def _apply(self) -> None:
        """Give every view the range that shows the shared region at the shared scale."""
        if self.original is None:
            self._show_zoom()
            return
        self._applying = True
        try:
            cx, cy = self._centre
            for vb in self.views:
                half_w, half_h = vb.width() / (2 * self._scale), vb.height() / (2 * self._scale)
                if half_w > 0 and half_h > 0:
                    vb.setRange(xRange=(cx - half_w, cx + half_w), yRange=(cy - half_h, cy + half_h), padding=0)
        finally:
            self._applying = False
        self._show_zoom()

    def _resized(self) -> None:
        if self._applying:
            return
        if self._fit:
            self._fit_scale()
        self._apply()

    def _user_moved(self, vb: pg.ViewBox) -> None:
        if self._applying:
            return
        (x0, x1), (y0, y1) = vb.viewRange()
        if x1 <= x0 or vb.width() <= 0:
            return
        self._scale = vb.width() / (x1 - x0)
        self._centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        self._fit = False
        self._apply()

    def _show_zoom(self) -> None:
        if self.original is None:
            self.zoom_label.setText("")
        else:
            self.zoom_label.setText(f"{self.zoom_percent():.0f}%" + (" (fit)" if self._fit else ""))
        self.zoom_changed.emit()

    def image_rects(self) -> list[QRectF]:
        """Where the whole image lies in each view, in that view's widget pixels (may
        extend past the view when zoomed in)."""
        if self.original is None:
            return [QRectF() for _ in self.views]
        h, w = self.original.shape[:2]
        return [vb.mapViewToDevice(QRectF(0, 0, w, h)).boundingRect() for vb in self.views]

    def view_sizes(self) -> list[tuple[int, int]]:
        return [(view.width(), view.height()) for view in self.graphics]
