"""Small widgets: the target-label combobox, the top-5 table, the attack settings form."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QDoubleSpinBox,
    QFormLayout,
    QHeaderView,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from ..core.api import Prediction
from ..core.attack import AttackConfig
from ..core.labels import LabelSet


class LabelCombo(QComboBox):
    """Editable combobox over the classes; type any part of a name or synonym to filter."""

    def __init__(self, labels: LabelSet, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.labels = labels
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.NoInsert)
        self.setMaxVisibleItems(15)
        for c in labels.classes:
            extra = [s for s in c.synonyms if s != c.name][:3]
            text = c.name + (f"  ({', '.join(extra)})" if extra else "")
            self.addItem(text, c.index)
            self.setItemData(self.count() - 1, f"{c.index} · {c.wnid} · {', '.join(c.synonyms)}", Qt.ToolTipRole)
        completer = QCompleter(self.model(), self)
        completer.setFilterMode(Qt.MatchContains)
        completer.setCaseSensitivity(Qt.CaseInsensitive)
        completer.setCompletionMode(QCompleter.PopupCompletion)
        self.setCompleter(completer)
        self.setToolTip("The class the classifier should see. Type a name, synonym, WordNet id or index.")
        self.lineEdit().setPlaceholderText("type a label, e.g. goldfish")
        self.setCurrentIndex(-1)

    def target_index(self) -> int:
        """The chosen class; resolves free text with the engine's rules (raises LabelError)."""
        text = self.currentText().strip()
        if self.currentIndex() >= 0 and self.itemText(self.currentIndex()) == self.currentText():
            return int(self.currentData())
        return self.labels.resolve(text)

    def set_target(self, index: int) -> None:
        self.setCurrentIndex(self.findData(index))


class PredictionTable(QTableWidget):
    """Top-5 with confidences; the target row in bold green."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(5, 2, parent)
        self.setHorizontalHeaderLabels(["class", "confidence"])
        self.verticalHeader().hide()
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        self.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeToContents)
        self.setEditTriggers(QTableWidget.NoEditTriggers)
        self.setSelectionMode(QTableWidget.NoSelection)
        self.setFocusPolicy(Qt.NoFocus)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        row = self.fontMetrics().height() + 8
        self.verticalHeader().setDefaultSectionSize(row)
        height = row * 5 + self.horizontalHeader().sizeHint().height() + 2 * self.frameWidth()
        self.setFixedHeight(height)

    def show_predictions(self, preds: list[Prediction], target: int | None = None) -> None:
        self.clearContents()
        for row, p in enumerate(preds[:5]):
            name, conf = QTableWidgetItem(p.name), QTableWidgetItem(f"{p.confidence:.1%}")
            conf.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            if p.index == target:
                font = QFont()
                font.setBold(True)
                for item in (name, conf):
                    item.setFont(font)
                    item.setForeground(Qt.darkGreen)
            self.setItem(row, 0, name)
            self.setItem(row, 1, conf)

    def top_name(self) -> str:
        item = self.item(0, 0)
        return item.text() if item else ""


class SettingsForm(QWidget):
    """The attack settings that matter, with the engine's defaults and tooltips."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        d = AttackConfig()
        self.eps = QDoubleSpinBox(decimals=1, minimum=0.5, maximum=64.0, singleStep=1.0, value=d.eps)
        self.eps.setSuffix(" /255")
        self.eps.setToolTip("L-inf budget: no pixel channel changes by more than this many 8-bit levels.\n"
                            "The attack starts at 2/255 and grows only as needed, so most results stay far below.")
        self.steps = QSpinBox(minimum=1, maximum=5000, value=d.max_steps)
        self.steps.setToolTip("Give up after this many gradient steps.")
        # -1 shows as "auto": the engine's default for the mode (2 steps, 10 in robust mode).
        self.refine = QSpinBox(minimum=-1, maximum=500, value=-1)
        self.refine.setSpecialValueText("auto")
        self.refine.setToolTip("Steps spent shrinking the noise once the target is reached (more = less visible, slower).\n"
                               "auto: 2 steps (10 in robust mode); 10 steps give about 4.5 dB more PSNR in 1.8x the time.")
        self.confidence = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=0.99, singleStep=0.05, value=d.confidence)
        self.confidence.setToolTip("Required probability of the target in the saved image (0 = being top-1 is enough).")
        self.centroid = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=10.0, singleStep=0.1, value=d.centroid_weight)
        self.centroid.setToolTip("Pull the image's feature vector toward the target's typical vector (its centroid).")
        self.robust = QCheckBox("survive JPEG and rescaling")
        self.robust.setToolTip("Robust mode: optimise through JPEG-75 and 2x down/up-scaling of the model's view,\n"
                               "and accept a result only if the target survives both. Stronger, more visible noise.")
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Budget", self.eps)
        form.addRow("Max steps", self.steps)
        form.addRow("Refine steps", self.refine)
        form.addRow("Confidence", self.confidence)
        form.addRow("Centroid weight", self.centroid)
        form.addRow("Robust", self.robust)

    def config(self) -> AttackConfig:
        return AttackConfig(
            eps=self.eps.value(),
            max_steps=self.steps.value(),
            refine_steps=None if self.refine.value() < 0 else self.refine.value(),
            confidence=self.confidence.value(),
            centroid_weight=self.centroid.value(),
            mode="robust" if self.robust.isChecked() else "default",
        )

    def spinboxes(self) -> dict[str, QDoubleSpinBox | QSpinBox]:
        return {"eps": self.eps, "steps": self.steps, "refine": self.refine,
                "confidence": self.confidence, "centroid": self.centroid}
