"""The Defences box: purify the adversarial image as a defender would, see if the target survives."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QComboBox, QGridLayout, QGroupBox, QLabel, QPushButton, QWidget

from ..core.defences import DEFENCES, UNAVAILABLE
from ..core.models import Classifier
from .jobs import Jobs
from .workers import DefenceWorker

THUMB = 96  # px: the purified 224-px model view, small enough for a 768-px-high screen
IDLE_TEXT = "Apply a defence to the adversarial image (before a run: to the original)."


class DefenceBox(QGroupBox):
    done = Signal(bool)  # did the target survive (False without an attack result)

    def __init__(self, jobs: Jobs, parent: QWidget | None = None) -> None:
        super().__init__("Defences", parent)
        self.jobs = jobs
        self.setToolTip("Purify the adversarial image as a defender would, and see if the target survives.\n"
                        "Defences act on the 224-px image the model sees.")
        self.combo = QComboBox()
        for name, d in DEFENCES.items():
            self.combo.addItem(d.label, name)
            self.combo.setItemData(self.combo.count() - 1, d.description, Qt.ToolTipRole)
        for name, why in UNAVAILABLE.items():
            self.combo.addItem(f"{name} (unavailable)", name)
            i = self.combo.count() - 1
            self.combo.setItemData(i, why, Qt.ToolTipRole)
            self.combo.model().item(i).setEnabled(False)
        self.button = QPushButton("Apply")
        self.image = QLabel()
        self.image.setFixedSize(THUMB, THUMB)
        self.image.setAlignment(Qt.AlignCenter)
        self.label = QLabel(IDLE_TEXT)
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.RichText)
        self.label.setAlignment(Qt.AlignLeft | Qt.AlignTop)
        lay = QGridLayout(self)
        lay.addWidget(self.combo, 0, 0, 1, 2)
        lay.addWidget(self.button, 0, 2)
        lay.addWidget(self.image, 1, 0)
        lay.addWidget(self.label, 1, 1, 1, 2)
        lay.setColumnStretch(1, 1)
        self._with_result = False

    @property
    def running(self) -> bool:
        return self.jobs.running("defence")

    def reset(self, text: str = IDLE_TEXT) -> None:
        """Forget the last purification (a new image or a new run makes it stale)."""
        self.jobs.drop("defence")
        self._show_idle_button()
        self.image.clear()
        self.label.setText(text)

    def cancel(self) -> None:
        """Stop the running defence (Deep Image Prior takes minutes on a CPU)."""
        self.reset("Cancelled.")

    def _show_idle_button(self) -> None:
        self.button.setText("Apply")
        self.button.setToolTip("")

    def apply(self, model: Classifier, image: np.ndarray, target: int | None) -> None:
        """Purify `image` (the adversarial result, or the original when `target` is None)."""
        defence = DEFENCES[self.combo.currentData()]
        self._with_result = target is not None
        worker = DefenceWorker(model, image, defence, -1 if target is None else target)
        worker.progress.connect(self._on_progress)
        self.jobs.start("defence", worker, self._on_done, self._on_failed, f"Applying {defence.label}…")
        self.image.clear()  # the last defence's image is not this one's
        self.label.setText(f"applying {defence.label}…")
        self.button.setText("Cancel")  # the same button stops it
        self.button.setToolTip("Stop this defence")

    def _on_progress(self, job: int, i: int, total: int) -> None:
        if self.jobs.is_current("defence", job):
            self.label.setText(f"Deep Image Prior: iteration {i}/{total}…")

    def _on_failed(self, message: str) -> None:
        self._show_idle_button()
        self.label.setText("The defence failed (see the message).")

    def _on_done(self, outcome) -> None:
        self._show_idle_button()
        purified, preds, survived = outcome
        qimg = QImage(purified.data, purified.shape[1], purified.shape[0], purified.strides[0], QImage.Format_RGB888)
        self.image.setPixmap(QPixmap.fromImage(qimg.copy()).scaled(THUMB, THUMB, Qt.KeepAspectRatio,
                                                                      Qt.SmoothTransformation))
        top = ", ".join(f"{p.name} {p.confidence:.0%}" for p in preds[:3])
        if not self._with_result:
            verdict = "original image · "
        elif survived:
            verdict = "<span style='color:#188038'><b>target survived</b></span> · "
        else:
            verdict = "<span style='color:#d93025'><b>target removed</b></span> · "
        self.label.setText(f"{verdict}the model now sees: {top}")
        self.done.emit(bool(survived) and self._with_result)
