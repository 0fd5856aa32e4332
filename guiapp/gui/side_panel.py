"""The side panel: what to do (target, model, mode and settings, Start/Stop), then what
happened (live line, result, judges, save) and the Defences box."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..core.labels import LabelSet
from ..core.models import available_models, model_status
from .defence_box import DefenceBox
from .jobs import Jobs
from .settings_form import SettingsForm
from .widgets import LabelCombo

LIVE_TIP = ("Live values of the optimisation, from its own differentiable preprocessing of the\n"
            "8-bit image. The Predictions table classifies the image as saved, with the standard\n"
            "preprocessing any other program uses, so its confidence can differ slightly.")


def _text_label(tooltip: str = "") -> QLabel:
    label = QLabel("")
    label.setWordWrap(True)
    label.setTextFormat(Qt.RichText)
    label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    label.setToolTip(tooltip)
    return label


class SidePanel(QWidget):
    WIDTH = 330

    def __init__(self, labels: LabelSet, jobs: Jobs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(self.WIDTH)
        self.target_combo = LabelCombo(labels)
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("The classifier to fool. Greyed-out models lack weights here (hover for why).")
        for name in available_models():
            ok, why = model_status(name)
            self.model_combo.addItem(name if ok else f"{name} (unavailable)", name)
            i = self.model_combo.count() - 1
            self.model_combo.setItemData(i, why, Qt.ToolTipRole)
            if not ok:
                self.model_combo.model().item(i).setEnabled(False)
        self.form = SettingsForm()
        self.form.form.insertRow(0, "Target", self.target_combo)
        self.form.form.insertRow(1, "Model", self.model_combo)
        attack_box = QGroupBox("Attack")
        QVBoxLayout(attack_box).addWidget(self.form)

        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.setToolTip("Start the optimisation (Ctrl+R)")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the optimisation (Esc)")
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)

        self.live_label = _text_label(LIVE_TIP)
        self.result_label = _text_label()
        self.judges_label = _text_label("What the ticked judges (models that took no part) see in the 8-bit image.")
        self.save_label = _text_label()
        self.defences = DefenceBox(jobs)

        col = QVBoxLayout(self)
        col.setContentsMargins(4, 4, 4, 4)
        col.addWidget(attack_box)
        col.addLayout(buttons)
        for label in (self.live_label, self.result_label, self.judges_label, self.save_label):
            col.addWidget(label)
        col.addWidget(self.defences)
        col.addStretch(1)
        self.clear_outcome()

    def clear_outcome(self) -> None:
        """Forget the last run's lines (a new image or a new run)."""
        for label in (self.live_label, self.result_label, self.judges_label, self.save_label):
            label.setText("")
            label.setVisible(False)

    @staticmethod
    def show_line(label: QLabel, html: str) -> None:
        label.setText(html)
        label.setVisible(bool(html))
