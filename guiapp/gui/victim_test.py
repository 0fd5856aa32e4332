"""The query mode's *Test* button: ask the victim named in the form about the open image
once, off the GUI thread, and show what it answered, before a run spends its questions.
The question is the open image's PNG (what the run would start from); it is not counted
against any run's budget."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent, QTextLayout
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from ..core.attacks import make_config
from ..core.attacks.query_strategy import http_options
from ..core.labels import LabelSet
from ..core.png_output import encode_png
from ..core.victim_checks import check_reachable
from ..core.victims import Answer, is_url, make_victim
from .jobs import Jobs

TOP_SHOWN = 3  # classes of the answer shown beside the button
MAX_LINES = 3  # a long error must not push the run's progress and result off a small screen


def describe_answer(answer: Answer, labels: LabelSet) -> str:
    """'espresso 61%, cup 12%, ...' or the top label alone (a label-only victim)."""
    if not answer.scores:
        return f"{answer.name(answer.top, labels)} (its top label only)"
    ranked = sorted(answer.scores.items(), key=lambda kv: -kv[1])[:TOP_SHOWN]
    return ", ".join(f"{answer.name(i, labels)} {p:.0%}" for i, p in ranked)


class ShortLabel(QLabel):
    """A word-wrapped label of MAX_LINES lines at most: a longer text is cut with '…' and
    shown whole in the tooltip. Re-cut on every resize (the lines depend on the width)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self._full = ""

    def full_text(self) -> str:
        return self._full

    def set_full_text(self, text: str) -> None:
        self._full = " ".join(text.split())  # a traceback's newlines would each cost a line
        self.setToolTip(self._full if self._full else "")
        self._cut()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._cut()

    def _cut(self) -> None:
        shown, lines = cut_to_lines(self._full, self, max(self.contentsRect().width() - 4, 20), MAX_LINES)
        if shown != self.text():  # (setText re-lays the row out: not on every resize)
            self.setText(shown)
        # Exactly the lines shown (one kept when empty, so Start does not jump when an answer
        # arrives): a word-wrapped label in a form row was given twice its text's height.
        margins = self.contentsMargins()
        height = max(lines, 1) * self.fontMetrics().lineSpacing() + margins.top() + margins.bottom() + 2
        if self.height() != height:
            self.setFixedHeight(height)


def cut_to_lines(text: str, label: QLabel, width: int, lines: int) -> tuple[str, int]:
    """`text` as `label` would wrap it at `width` pixels, cut to `lines` lines, the last
    one elided with '…' when anything is left out; and the number of lines shown."""
    layout = QTextLayout(text, label.font())
    layout.beginLayout()
    starts: list[int] = []  # where each line begins
    while len(starts) <= lines:  # one line past the limit tells whether there is more
        line = layout.createLine()
        if not line.isValid():
            break
        line.setLineWidth(width)
        starts.append(line.textStart())
    layout.endLayout()
    if len(starts) <= lines:
        return text, len(starts) if text else 0
    last = starts[lines - 1]
    return text[:last] + label.fontMetrics().elidedText(text[last:], Qt.TextElideMode.ElideRight, width), lines


class VictimTestRow(QWidget):
    """A Test button and the victim's answer, for the query mode's settings."""

    def __init__(self, jobs: Jobs, values: Callable[[], dict[str, Any]], image: Callable[[], np.ndarray | None],
                 labels: Callable[[], LabelSet], parent: QWidget | None = None) -> None:
        """`values`: the query mode's form values (the victim and how to ask it are read)."""
        super().__init__(parent)
        self._jobs, self._values, self._image, self._labels = jobs, values, image, labels
        # What the shown answer is about (the victim's settings, the image): None when nothing is shown.
        self._about: tuple[dict[str, Any], np.ndarray | None] | None = None
        self.button = QPushButton("Test")
        self.button.setToolTip("Ask the victim once about the open image and show its answer (not counted "
                               "against the run's questions)")
        self.answer = ShortLabel()
        self.answer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # The answer under the button, the field's whole width: beside it, 130 px at 1366x768
        # held "nothing answers at the victim's 127.0.…" in two lines.
        row = QVBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        row.addWidget(self.button, 0, Qt.AlignmentFlag.AlignLeft)
        row.addWidget(self.answer)
        self.button.clicked.connect(self.test)

    def _victim_settings(self) -> dict[str, Any]:
        return {k: v for k, v in self._values().items() if k.startswith("victim")}

    def _show(self, text: str) -> None:
        """Show `text` as the answer about the victim and image named in the form now."""
        self._about = (self._victim_settings(), self._image())
        self.answer.set_full_text(text)

    def forget(self) -> None:
        """Clear the answer (and drop a question still out): it was about another victim,
        image or mode, and a stale answer reads as the current one's."""
        self._jobs.drop("victim-test")
        self.button.setEnabled(True)
        self._about = None
        self.answer.set_full_text("")

    def forget_if_stale(self) -> None:
        """`forget` when the victim or the image changed since the answer shown (any form
        value may have changed: the other settings keep it)."""
        if self._about is None:
            return
        settings, image = self._about
        if settings != self._victim_settings() or image is not self._image():
            self.forget()

    def test(self) -> None:
        image = self._image()
        if image is None:
            self._show("Open an image first.")
            return
        victim_settings = self._victim_settings()
        if not str(victim_settings.get("victim", "")).strip():
            self._show("Name a victim first: a URL or a model.")
            return
        try:
            config = make_config("query", **victim_settings)
            labels = self._labels()
            options = http_options(config)
        except Exception as exc:  # noqa: BLE001 - a bad setting: say it where the user looks
            self._show(str(exc))
            return
        png = encode_png(image)

        def ask() -> str:
            # A URL nobody listens at is said at once, in Start's words, instead of after
            # the question's retries and their backoff (a TCP connection only: no question).
            if is_url(config.victim):
                check_reachable(config.victim, config.victim_timeout)
            victim = make_victim(config.victim, labels, options, top_k=config.victim_top_k, max_queries=1)
            return describe_answer(victim.ask(png), victim.labels)

        self.button.setEnabled(False)
        self._show("Asking…")
        # Its answer or error is said in the row (walked: an error box said it a second time).
        self._jobs.run("victim-test", ask, self._answered, self._failed, "Asking the victim…", own_errors=True)

    def _answered(self, text: str) -> None:
        self.button.setEnabled(True)
        self.answer.set_full_text(f"It answers: {text}")

    def _failed(self, message: str) -> None:
        self.button.setEnabled(True)
        self.answer.set_full_text(message)
