"""Run history: every finished run on the current image, kept with its settings, figures,
plot and a thumbnail. Click one to show it again (views, plot, result line, predictions,
judges; Save and the Defences then act on it), select two to compare them side by side,
save any of them (the PNG the pipeline writes for that run, byte for byte the same as
when it was made), or export its one-page report. Each image keeps its own runs: opening
another image shows that image's runs, opening this one again brings these back, after a
restart too (kept_runs writes them to disk; issue 34: results were lost without a
question). The runs themselves are the session's (session.py, Qt-free); this panel
observes it and draws the image shown's.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .image_label import ImageLabel, to_pixmap
from .session import RunEntry, Session
from .view_pixels import amplified_difference

THUMB = 56


class HistoryPanel(QWidget):
    chosen = Signal(object)  # RunEntry to show again
    save_requested = Signal(object)  # RunEntry
    report_requested = Signal(object)  # RunEntry

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        session.observe(self._session_changed)
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setToolTip("Every run on this image (kept when you open another image, and after a restart). "
                             "Click one to show it again; Ctrl+click a second one to compare the two.")
        self.list.itemSelectionChanged.connect(self._selection_changed)
        self.show_button = QPushButton("Show")
        self.compare_button = QPushButton("Compare")
        self.save_button = QPushButton("Save PNG…")
        self.report_button = QPushButton("Report…")
        self.compare_button.setToolTip("Select two runs (Ctrl+click) to see them side by side")
        self.report_button.setToolTip("A one-page HTML report of the selected run: images, settings, figures, plot")
        self.show_button.clicked.connect(lambda: self._emit(self.chosen))
        self.compare_button.clicked.connect(self.compare)
        self.save_button.clicked.connect(lambda: self._emit(self.save_requested))
        self.report_button.clicked.connect(lambda: self._emit(self.report_requested))
        buttons = QVBoxLayout()
        for b in (self.show_button, self.compare_button, self.save_button, self.report_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 4, 4, 4)
        row.addWidget(self.list, 1)
        row.addLayout(buttons)
        self.dialog: CompareDialog | None = None
        self._update_buttons()

    @property
    def entries(self) -> list[RunEntry]:
        """The runs listed: the image shown's."""
        return self.session.entries

    def _session_changed(self, event: str, subject: Any) -> None:
        if event == "image" or (event == "restored" and subject is self.session.runs):
            self._fill()
        elif event == "added":
            item = self._add_item(subject)
            blocked = self.list.blockSignals(True)
            self.list.setCurrentItem(item)  # the newest run is the one shown
            self.list.blockSignals(blocked)
            self._update_buttons()
        elif event == "dropped":
            self.list.takeItem(0)
        elif event == "changed":
            for i in range(self.list.count()):
                if self.list.item(i).data(Qt.ItemDataRole.UserRole) == subject.number:
                    self.list.item(i).setText(subject.title())

    def _fill(self) -> None:
        self.list.clear()
        for entry in self.entries:
            self._add_item(entry)
        self.select_none()

    def _add_item(self, entry: RunEntry) -> QListWidgetItem:
        item = QListWidgetItem(QIcon(to_pixmap(entry.result.adversarial, THUMB)), entry.title())
        item.setData(Qt.ItemDataRole.UserRole, entry.number)
        self.list.addItem(item)
        return item

    def select_none(self) -> None:
        blocked = self.list.blockSignals(True)
        self.list.clearSelection()
        self.list.blockSignals(blocked)
        self._update_buttons()

    def selected(self) -> list[RunEntry]:
        numbers = [it.data(Qt.ItemDataRole.UserRole) for it in self.list.selectedItems()]
        return [e for e in self.entries if e.number in numbers]

    def select(self, entry: RunEntry, add: bool = False) -> None:
        """Select `entry` (with `add`, besides the current selection), as a click would."""
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == entry.number:
                if not add:
                    self.list.clearSelection()
                item.setSelected(True)

    def _update_buttons(self) -> None:
        chosen = self.selected()
        for button in (self.show_button, self.save_button, self.report_button):
            button.setEnabled(len(chosen) == 1)
        self.compare_button.setEnabled(len(chosen) == 2)

    def _selection_changed(self) -> None:
        """A click: one run selected is shown again."""
        self._update_buttons()
        chosen = self.selected()
        if len(chosen) == 1:
            self.chosen.emit(chosen[0])

    def _emit(self, signal) -> None:
        chosen = self.selected()
        if len(chosen) == 1:
            signal.emit(chosen[0])

    def compare(self) -> CompareDialog | None:
        chosen = self.selected()
        if len(chosen) != 2:
            return None
        self.dialog = CompareDialog(chosen[0], chosen[1], self)
        self.dialog.show()
        return self.dialog


class CompareDialog(QDialog):
    """Two runs side by side: adversarial image, amplified difference, every figure."""

    def __init__(self, a: RunEntry, b: RunEntry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Compare run #{a.number} and run #{b.number}")
        self.resize(900, 640)
        grid = QGridLayout(self)
        self.images: list[ImageLabel] = []
        for col, entry in enumerate((a, b)):
            original = entry.run.plan.image.rgb
            adv, diff = ImageLabel(f"Run #{entry.number}: adversarial", 120, 4), ImageLabel(
                f"Run #{entry.number}: difference x20", 120, 4)
            adv.show_rgb(entry.result.adversarial)
            diff.show_rgb(amplified_difference(original, entry.result.adversarial, 20))
            figures = QLabel("<table>" + "".join(
                f"<tr><td><b>{html.escape(k)}</b>&nbsp;</td><td>{html.escape(v)}</td></tr>"
                for k, v in entry.figures()) + "</table>")
            figures.setWordWrap(True)
            figures.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(QLabel(f"<b>Run #{entry.number}</b>"), 0, col)
            grid.addWidget(adv, 1, col)
            grid.addWidget(diff, 2, col)
            grid.addWidget(figures, 3, col)
            self.images += [adv, diff]
        same = np.array_equal(a.result.adversarial, b.result.adversarial)
        changed = float((a.result.adversarial != b.result.adversarial).any(axis=2).mean()) * 100
        grid.addWidget(QLabel("The two results are identical." if same else
                              f"The two results differ in {changed:.1f}% of the pixels."), 4, 0, 1, 2)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)  # Esc works too; a button says so
        close.rejected.connect(self.reject)
        grid.addWidget(close, 5, 0, 1, 2)
        self.close_button = close.button(QDialogButtonBox.StandardButton.Close)
        grid.setRowStretch(1, 1)
        grid.setRowStretch(2, 1)
