"""The side panel: what to do (target, model, mode and settings, Start/Stop), then what
happened (live line, result, judges, save). The Defences live in their own tab below the
views, where their preview has room."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ..core.labels import LabelSet
from .model_list import model_statuses
from .settings_form import SettingsForm
from .target_field import TargetField
from .widgets import set_item_enabled

LIVE_TIP = ("Live values of the run. 'optimiser': what the attack computes on its own differentiable (in some\n"
            "modes randomised) view of the image. 'as saved': what the crafting models see in the 8-bit image\n"
            "through the standard preprocessing any other program uses, checked a few times per run; the result\n"
            "line and the Predictions table measure the saved image the same way.")


def _text_label(tooltip: str = "") -> QLabel:
    label = QLabel("")
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setToolTip(tooltip)
    return label


class SidePanel(QWidget):
    WIDTH = 330

    def __init__(self, labels: LabelSet, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(self.WIDTH)
        self.target_field = TargetField(labels)
        self.target_combo = self.target_field.combo
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("The classifier to fool. Greyed-out models lack weights here (hover for why).")
        for name, (ok, why) in model_statuses().items():
            self.model_combo.addItem(name if ok else f"{name} (unavailable)", name)
            i = self.model_combo.count() - 1
            self.model_combo.setItemData(i, why, Qt.ItemDataRole.ToolTipRole)
            if not ok:
                set_item_enabled(self.model_combo, i, False)
        self.form = SettingsForm()
        self.form.form.insertRow(0, "Target", self.target_field)
        self.form.form.insertRow(1, "Model", self.model_combo)
        # What a user's model is (its card, what was assumed): shown under the list.
        self.model_note = QLabel("")
        self.model_note.setWordWrap(True)
        self.model_note.setTextFormat(Qt.TextFormat.RichText)
        self.model_note.setStyleSheet("color: palette(mid)")
        self.model_note.hide()
        self.form.form.insertRow(2, "", self.model_note)
        self.defaults_button = QPushButton("Defaults")
        self.defaults_button.setToolTip("Put this mode's settings back to their defaults (changed ones have bold "
                                        "labels; the window remembers them between sessions)")
        self.defaults_button.clicked.connect(self.form.reset_defaults)
        attack_box = QGroupBox("Attack")
        box = QVBoxLayout(attack_box)
        box.addWidget(self.form)
        box.addWidget(self.defaults_button, 0, Qt.AlignmentFlag.AlignRight)

        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.setToolTip("Start the optimisation (Ctrl+R)")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the optimisation (Esc)")
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        self.start_hint = QLabel("")
        self.start_hint.setWordWrap(True)
        self.start_hint.setStyleSheet("color: palette(mid)")

        self.live_label = _text_label(LIVE_TIP)
        self.result_label = _text_label(
            "The saved 8-bit image against the original: L-inf (the largest change, in 1/255 levels), PSNR (noise "
            "energy; ~40 dB and up is invisible), SSIM (structure; 1 = identical), CIEDE2000 (mean colour "
            "difference; ~2 is just noticeable) and HaarPSI (a perceptual similarity; 1 = identical).")
        self.judges_label = _text_label("What the ticked judges (models that took no part) see in the 8-bit image.")
        self.save_label = _text_label()

        col = QVBoxLayout(self)
        col.setContentsMargins(4, 4, 4, 4)
        col.addWidget(attack_box)
        col.addLayout(buttons)
        col.addWidget(self.start_hint)
        for label in (self.live_label, self.result_label, self.judges_label, self.save_label):
            col.addWidget(label)
        col.addStretch(1)
        self.clear_outcome()

    def show_model_note(self, html_text: str) -> None:
        self.model_note.setText(html_text)
        self.model_note.setVisible(bool(html_text))

    def clear_outcome(self) -> None:
        """Forget the last run's lines (a new image or a new run)."""
        for label in (self.live_label, self.result_label, self.judges_label, self.save_label):
            label.setText("")
            label.setVisible(False)

    def reveal(self, widget: QWidget) -> None:
        """Scroll the panel so that `widget` is in view (once the layout has placed it): a
        result or live line under a long form is otherwise below the window's edge."""
        parent = self.parentWidget()
        while parent is not None and not isinstance(parent, QScrollArea):
            parent = parent.parentWidget()
        if parent is not None:
            area = parent

            def scroll() -> None:
                if widget.isVisible():
                    area.ensureWidgetVisible(widget, 0, 8)

            QTimer.singleShot(0, self, scroll)

    @staticmethod
    def show_line(label: QLabel, html: str) -> None:
        label.setText(html)
        label.setVisible(bool(html))
