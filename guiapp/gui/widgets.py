"""Small widgets: the target-label combobox, the top-5 table, the attack settings form."""

from __future__ import annotations

from PySide6.QtCore import QSize, QStringListModel, Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QCompleter,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from ..core.api import Prediction
from ..core.attack import AttackConfig
from ..core.labels import ImageNetClass, LabelSet
from ..core.modes import MODES, AnyConfig, make_config
from ..core.models import available_models, model_status
from ..core.transfer import TransferConfig

SUGGESTIONS = 12  # rows in the label completer's popup


def label_text(c: ImageNetClass) -> str:
    """How a class shows in the target list: its name and up to three other synonyms."""
    base = c.name.lower()
    extra = [s for s in c.synonyms if s.lower() != base and not base.startswith(s.lower() + " (")][:3]
    return c.name + (f"  ({', '.join(extra)})" if extra else "")


class LabelCombo(QComboBox):
    """Editable combobox over the classes. Typing shows the engine's ranked suggestions
    (the same as `guiapp-cli labels` and the "did you mean" of an error), misspellings
    included: "golfish" offers goldfish."""

    def __init__(self, labels: LabelSet, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.labels = labels
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.NoInsert)
        self.setMaxVisibleItems(15)
        self._texts = [label_text(c) for c in labels.classes]
        for c, text in zip(labels.classes, self._texts):
            self.addItem(text, c.index)
            self.setItemData(self.count() - 1, f"{c.index} · {c.wnid} · {', '.join(c.synonyms)}", Qt.ToolTipRole)
        # The completer shows our ranked list as it is (unfiltered): Qt's own filtering
        # (prefix or substring) can neither rank nor forgive a typo.
        self.suggestions = QStringListModel(self)
        completer = QCompleter(self.suggestions, self)
        completer.setCompletionMode(QCompleter.UnfilteredPopupCompletion)
        completer.setCaseSensitivity(Qt.CaseInsensitive)
        completer.setMaxVisibleItems(SUGGESTIONS)
        self.setCompleter(completer)
        self.lineEdit().textEdited.connect(self._suggest)
        self.setToolTip("The class the classifier should see. Type a name, synonym, WordNet id or index.")
        self.lineEdit().setPlaceholderText("type a label, e.g. goldfish")
        self.setCurrentIndex(-1)

    def _suggest(self, text: str) -> None:
        found = [self._texts[c.index] for c in self.labels.suggest(text, SUGGESTIONS)]
        self.suggestions.setStringList(found)
        if found:
            self.completer().complete()
            # Qt marks the first row *starting with* the text ("catamaran" for "cat");
            # once it has, mark our best match instead, so Enter takes it.
            QTimer.singleShot(0, self._mark_best)

    def _mark_best(self) -> None:
        completer = self.completer()
        popup = completer.popup()
        if popup.isVisible() and self.suggestions.rowCount():
            # Silently: a `highlighted` signal would make the line edit take that text
            # while the user is still typing.
            blocked = completer.blockSignals(True)
            try:
                popup.setCurrentIndex(completer.completionModel().index(0, 0))
            finally:
                completer.blockSignals(blocked)

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
        row = self.fontMetrics().height() + 6
        self.verticalHeader().setDefaultSectionSize(row)
        height = row * 5 + self.horizontalHeader().sizeHint().height() + 2 * self.frameWidth()
        self.setFixedHeight(height)

    def sizeHint(self) -> QSize:
        return QSize(210, self.height())  # not the sum of its columns: the plot beside it needs the width

    def show_predictions(self, preds: list[Prediction], target: int | None = None) -> None:
        self.clearContents()
        for row, p in enumerate(preds[:5]):
            name, conf = QTableWidgetItem(p.name), QTableWidgetItem(f"{p.confidence:.1%}")
            conf.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            name.setToolTip(p.name)
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


MODE_HELP = {
    "default": "The smallest noise that makes the chosen model see the target (white-box).",
    "robust": "Noise that also survives JPEG-75 and 2x down/up-scaling of the model's view (white-box).\n"
              "Stronger, more visible noise; a result counts only if the target survives both.",
    "transfer": "Crafted on surrogate models only, to fool models it never saw. Tick judges to see\n"
                "whether other installed models are fooled by the result.",
}


class ModelChecklist(QListWidget):
    """The installed models, to tick (surrogates, judges); the others are named in the tooltip."""

    changed = Signal()

    def __init__(self, tooltip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSelectionMode(QAbstractItemView.NoSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        missing = []
        for name in available_models():
            ok, why = model_status(name)
            if not ok:
                missing.append(f"{name}: {why}")
                continue
            item = QListWidgetItem(name)
            item.setData(Qt.UserRole, name)
            item.setToolTip(why)
            item.setFlags(Qt.ItemIsUserCheckable | Qt.ItemIsEnabled)
            item.setCheckState(Qt.Unchecked)
            self.addItem(item)
        self.setToolTip(tooltip + ("\n\nNot installed here:\n" + "\n".join(missing) if missing else ""))
        rows = max(1, min(self.count(), 3))
        self.setFixedHeight(rows * self.sizeHintForRow(0) + 2 * self.frameWidth() if self.count() else 24)
        self.itemChanged.connect(lambda _item: self.changed.emit())

    def _items(self) -> list[QListWidgetItem]:
        return [self.item(i) for i in range(self.count())]

    def checked(self) -> list[str]:
        return [it.data(Qt.UserRole) for it in self._items() if it.checkState() == Qt.Checked]

    def set_checked(self, names: list[str] | tuple[str, ...]) -> None:
        for it in self._items():
            it.setCheckState(Qt.Checked if it.data(Qt.UserRole) in names else Qt.Unchecked)


class SettingsForm(QWidget):
    """The attack mode and the settings that matter in it, with the engine's defaults."""

    mode_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        d, t = AttackConfig(), TransferConfig()
        self.mode = QComboBox()
        for mode in MODES:
            self.mode.addItem(mode, mode)
            self.mode.setItemData(self.mode.count() - 1, MODE_HELP[mode], Qt.ToolTipRole)
        self.mode.setToolTip("\n\n".join(f"{m}: {MODE_HELP[m]}" for m in MODES))
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
        # Transfer mode's centroid term is another loss with another default, so it has its own box.
        self.transfer_centroid = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=10.0, singleStep=0.1,
                                                value=t.centroid_weight)
        self.transfer_centroid.setToolTip(
            "Weight of the class centroids in transfer mode: the surrogates' mid-level features must also\n"
            "vote for the target among every class's centres. Speeds up transfer (docs/BENCHMARKS.md);\n"
            "needs a centroid file per surrogate (shipped for Lite0 and Lite1). 0 turns it off.")
        self.iterations = QSpinBox(minimum=1, maximum=5000, value=t.iterations)
        self.iterations.setToolTip("Gradient iterations on the surrogate models (transfer keeps improving for hundreds).")
        self.surrogates = ModelChecklist("The models the noise is crafted on (transfer mode).")
        self.surrogates.set_checked(t.surrogates)
        self.judges = ModelChecklist("After the run, ask each ticked model what it sees in the saved 8-bit image.\n"
                                     "A fair judge is a model that is not among the surrogates.")

        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.addRow("Mode", self.mode)
        self.form.addRow("Budget", self.eps)
        self.form.addRow("Max steps", self.steps)
        self.form.addRow("Iterations", self.iterations)
        self.form.addRow("Refine steps", self.refine)
        self.form.addRow("Confidence", self.confidence)
        self.form.addRow("Centroid weight", self.centroid)
        self.form.addRow("Centroid weight", self.transfer_centroid)
        self.form.addRow("Surrogates", self.surrogates)
        self.form.addRow("Judges", self.judges)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self._mode_changed()

    def current_mode(self) -> str:
        return self.mode.currentData()

    def set_mode(self, mode: str) -> None:
        i = self.mode.findData(mode)
        if i >= 0:
            self.mode.setCurrentIndex(i)

    def _mode_changed(self) -> None:
        transfer = self.current_mode() == "transfer"
        for widget in (self.steps, self.refine, self.confidence, self.centroid):
            self.form.setRowVisible(widget, not transfer)
        for widget in (self.iterations, self.transfer_centroid, self.surrogates, self.judges):
            self.form.setRowVisible(widget, transfer)
        self.mode_changed.emit(self.current_mode())

    def config(self) -> AnyConfig:
        """The engine's config for these settings (GuiappError for a bad combination)."""
        mode = self.current_mode()
        if mode == "transfer":
            return make_config(
                mode,
                eps=self.eps.value(),
                iterations=self.iterations.value(),
                surrogates=tuple(self.surrogates.checked()),
                centroid_weight=self.transfer_centroid.value(),
            )
        return make_config(
            mode,
            eps=self.eps.value(),
            max_steps=self.steps.value(),
            refine_steps=None if self.refine.value() < 0 else self.refine.value(),
            confidence=self.confidence.value(),
            centroid_weight=self.centroid.value(),
        )

    def spinboxes(self) -> dict[str, QDoubleSpinBox | QSpinBox]:
        return {"eps": self.eps, "steps": self.steps, "refine": self.refine,
                "confidence": self.confidence, "centroid": self.centroid, "iterations": self.iterations,
                "transfer_centroid": self.transfer_centroid}


class PredictionsBox(QGroupBox):
    """Top-5 of the original and of the adversarial image, side by side."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Predictions", parent)
        self.original = PredictionTable()
        self.adversarial = PredictionTable()
        self.original_caption = QLabel("Original")
        self.adversarial_caption = QLabel("Adversarial, as saved (8-bit)")
        self.adversarial_caption.setToolTip(
            "The top-5 of the 8-bit image exactly as it is saved, through the model's standard\n"
            "preprocessing. The live numbers during a run come from the optimiser's own\n"
            "(differentiable) preprocessing, so they can differ by a point or two.")
        grid = QGridLayout(self)
        grid.addWidget(self.original_caption, 0, 0)
        grid.addWidget(self.adversarial_caption, 0, 1)
        grid.addWidget(self.original, 1, 0)
        grid.addWidget(self.adversarial, 1, 1)
        grid.setRowStretch(2, 1)

    def set_model_name(self, name: str) -> None:
        self.setTitle(f"Predictions of {name}")
