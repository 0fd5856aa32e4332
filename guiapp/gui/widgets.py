"""Small widgets: the target-label combobox and the top-5 tables."""

from __future__ import annotations

from PySide6.QtCore import QSize, QStringListModel, Qt, QTimer
from PySide6.QtGui import QFont, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QCompleter,
    QGridLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from ..core.labels import ImageNetClass, LabelSet
from ..core.predict import Prediction

SUGGESTIONS = 12  # rows in the label completer's popup


def _letters(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def set_item_enabled(combo: QComboBox, index: int, enabled: bool) -> None:
    """Grey out (or not) one entry of a combobox that keeps Qt's own list model."""
    model = combo.model()
    assert isinstance(model, QStandardItemModel)  # a QComboBox's model unless setModel() replaced it
    model.item(index).setEnabled(enabled)


def label_text(c: ImageNetClass) -> str:
    """How a class shows in the target list: its name and up to three other synonyms, none
    a mere spelling of another ("tree frog", not "tree frog (tree-frog)"; all stay searchable)."""
    seen = {_letters(c.name.split(" (")[0]), _letters(c.name)}
    extra = []
    for synonym in c.synonyms:
        key = _letters(synonym)
        if key not in seen:
            seen.add(key)
            extra.append(synonym)
    return c.name + (f"  ({', '.join(extra[:3])})" if extra else "")


class LabelCombo(QComboBox):
    """Editable combobox over the classes. Typing shows the engine's ranked suggestions
    (the same as `guiapp-cli labels` and the "did you mean" of an error), misspellings
    included: "golfish" offers goldfish."""

    def __init__(self, labels: LabelSet, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.labels = labels
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.setMaxVisibleItems(15)
        # The field's width comes from the panel, not from the longest class name (which
        # made the panel ask for 585 px); the drop-down and the suggestions are wider.
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(14)
        self._texts: list[str] = []
        self._fill(labels)
        # The completer shows our ranked list as it is (unfiltered): Qt's own filtering
        # (prefix or substring) can neither rank nor forgive a typo.
        self.suggestions = QStringListModel(self)
        completer = QCompleter(self.suggestions, self)
        completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setMaxVisibleItems(SUGGESTIONS)
        self.setCompleter(completer)
        self._edit().textEdited.connect(self._suggest)
        self.setToolTip("The class the classifier should see. Type a name, synonym, WordNet id or index.")
        self._edit().setPlaceholderText(f"type a label, e.g. {labels[min(1, len(labels) - 1)].name}")
        self.setCurrentIndex(-1)

    def _edit(self) -> QLineEdit:
        edit = self.lineEdit()
        assert edit is not None  # editable since __init__
        return edit

    def _popup(self) -> tuple[QCompleter, QAbstractItemView]:
        """The completer set in __init__ and its list (which Qt creates on first asking)."""
        completer = self.completer()
        assert completer is not None
        popup = completer.popup()
        assert popup is not None
        return completer, popup

    def _fill(self, labels: LabelSet) -> None:
        self._texts = [label_text(c) for c in labels.classes]
        for c, text in zip(labels.classes, self._texts, strict=True):
            self.addItem(text, c.index)
            wnid = f" · {c.wnid}" if c.wnid else ""
            self.setItemData(self.count() - 1, f"{c.index}{wnid} · {', '.join(c.synonyms)}",
                             Qt.ItemDataRole.ToolTipRole)
        # The drop-down list as wide as its longest entry, not as the field.
        self.view().setMinimumWidth(max(self.fontMetrics().horizontalAdvance(t) for t in self._texts) + 40)

    def set_labels(self, labels: LabelSet) -> None:
        """Another model's classes (the window switched models)."""
        self.labels = labels
        self.clear()
        self._fill(labels)
        self._edit().setPlaceholderText(f"type a label, e.g. {labels[min(1, len(labels) - 1)].name}")
        self.setCurrentIndex(-1)

    def _suggest(self, text: str) -> None:
        found = [self._texts[c.index] for c in self.labels.suggest(text, SUGGESTIONS)]
        self.suggestions.setStringList(found)
        if found:
            # As wide as its longest row (Qt makes it as wide as the field, which cut
            # "puffer (pufferfish, blowfish, glob..."), within the screen.
            completer, popup = self._popup()
            metrics = popup.fontMetrics()
            wanted = max(metrics.horizontalAdvance(t) for t in found) + 2 * popup.frameWidth() + 24 + (
                popup.verticalScrollBar().sizeHint().width() if len(found) > SUGGESTIONS else 0)
            screen = self.screen().availableGeometry().width() if self.screen() else wanted
            popup.setMinimumWidth(min(max(wanted, self.width()), screen - 20))
            completer.complete()
            # Qt marks the first row *starting with* the text ("catamaran" for "cat");
            # once it has, mark our best match instead, so Enter takes it.
            QTimer.singleShot(0, self._mark_best)

    def _mark_best(self) -> None:
        completer, popup = self._popup()
        if popup.isVisible():
            keep_on_screen(popup, self.screen())  # Qt opens it at the field's left edge, past the screen's right
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
        self._edit().setCursorPosition(0)  # the class's name, not the end of its synonyms


class PredictionTable(QTableWidget):
    """Top-5 with confidences; the target row in bold green."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(5, 2, parent)
        self.setHorizontalHeaderLabels(["class", "confidence"])
        self.verticalHeader().hide()
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        row = self.fontMetrics().height() + 6
        self.verticalHeader().setDefaultSectionSize(row)
        # The rows share the height the box has (no empty band under the table), never less
        # than a readable row each.
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.setMinimumHeight(row * 5 + self.horizontalHeader().sizeHint().height() + 2 * self.frameWidth())
        self.setMinimumWidth(150)

    def sizeHint(self) -> QSize:
        return QSize(190, self.minimumHeight())  # not the sum of its columns: the plot beside it needs the width

    def show_predictions(self, preds: list[Prediction], target: int | None = None) -> None:
        self.clearContents()
        for row, p in enumerate(preds[:5]):
            name, conf = QTableWidgetItem(p.name), QTableWidgetItem(f"{p.confidence:.1%}")
            conf.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            name.setToolTip(p.name)
            if p.index == target:
                font = QFont()
                font.setBold(True)
                for item in (name, conf):
                    item.setFont(font)
                    item.setForeground(Qt.GlobalColor.darkGreen)
            self.setItem(row, 0, name)
            self.setItem(row, 1, conf)

    def top_name(self) -> str:
        item = self.item(0, 0)
        return item.text() if item else ""


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
        grid.setRowStretch(1, 1)

    def set_model_name(self, name: str) -> None:
        self.setTitle(f"Predictions of {name}")


def keep_on_screen(widget: QWidget, screen) -> None:
    """Move a popup left (or right) so that all of it is on `screen`'s available area."""
    if screen is None:
        return
    area, geometry = screen.availableGeometry(), widget.geometry()
    if geometry.right() > area.right():
        geometry.moveRight(area.right())
    if geometry.left() < area.left():
        geometry.moveLeft(area.left())
    widget.setGeometry(geometry)
