"""The target: the label field, and under it what is wrong with what was typed, with the
classes it may mean as links to click (no modal box: "crane" offers crane (bird) and
crane (machine) right there)."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ..core.errors import LabelError
from ..core.labels import LabelSet
from .widgets import LabelCombo, label_text

CHOICES = 5


class TargetField(QWidget):
    problem = Signal(str)  # what was wrong with the typed label (also shown under the field)
    changed = Signal()  # the text changed (Start is enabled only with a target)

    def __init__(self, labels: LabelSet, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.labels = labels
        self.combo = LabelCombo(labels)
        self.hint = QLabel("")
        self.hint.setWordWrap(True)
        self.hint.setTextFormat(Qt.TextFormat.RichText)
        self.hint.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse
                                          | Qt.TextInteractionFlag.LinksAccessibleByKeyboard)
        self.hint.linkActivated.connect(self._choose)
        self.hint.hide()
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(2)
        col.addWidget(self.combo)
        col.addWidget(self.hint)
        self.combo.editTextChanged.connect(self._edited)

    def set_labels(self, labels: LabelSet) -> None:
        """Another model's classes: the list and the search change; a typed target is kept
        as text (it may name a class of the new list too)."""
        text = self.text()
        self.labels = labels
        self.combo.set_labels(labels)
        self.combo.setEditText(text)
        self.hint.hide()
        self.changed.emit()

    def text(self) -> str:
        return self.combo.currentText().strip()

    def resolve(self) -> int | None:
        """The chosen class, or None after showing what is wrong and what it may mean."""
        try:
            index = self.combo.target_index()
        except LabelError as exc:
            self.show_problem(str(exc))
            return None
        self.hint.hide()
        return index

    def show_problem(self, message: str) -> None:
        text = self.text()
        choices = self.labels.suggest(text, CHOICES) if text else []
        if not text:
            lead = "Type the label the classifier should see (a name, synonym, WordNet id or index)."
        elif "ambiguous" in message:
            lead = f"“{html.escape(text)}” names several classes. Which one?"
        elif choices:
            lead = f"No class is called “{html.escape(text)}”. Did you mean:"
        else:  # nothing near it (walked: "Unknown label 'blorptastic'." said no next step)
            lead = (html.escape(message[:1].upper() + message[1:]) + ". Type part of a class name (the list "
                    f"under the field offers the {len(self.labels)} classes as you type), a WordNet id or an index "
                    f"0-{len(self.labels) - 1}.")
        links = " · ".join(f"<a href='{c.index}'>{html.escape(label_text(c))}</a>" for c in choices)
        self.hint.setText(f"<span style='color:#d93025'>{lead}</span>" + (f"<br>{links}" if links else ""))
        self.hint.show()
        self.problem.emit(message)

    def choice_links(self) -> list[int]:
        """The class indices the hint offers (for tests and keyboard users)."""
        text = self.hint.text()
        return [int(part.split("'")[0]) for part in text.split("<a href='")[1:]]

    def _choose(self, link: str) -> None:
        self.combo.set_target(int(link))
        self.hint.hide()

    def _edited(self, _text: str) -> None:
        if self.hint.isVisible():
            self.hint.hide()
        self.changed.emit()
