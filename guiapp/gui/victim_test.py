"""The query mode's *Test* button: ask the victim named in the form about the open image
once, off the GUI thread, and show what it answered, before a run spends its questions.
The question is the open image's PNG (what the run would start from); it is not counted
against any run's budget."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from ..core.attacks import make_config
from ..core.attacks.query_strategy import http_options
from ..core.labels import LabelSet
from ..core.png_output import encode_png
from ..core.victims import Answer, make_victim
from .jobs import Jobs

TOP_SHOWN = 3  # classes of the answer shown beside the button


def describe_answer(answer: Answer, labels: LabelSet) -> str:
    """'espresso 61%, cup 12%, ...' or the top label alone (a label-only victim)."""
    if not answer.scores:
        return f"{answer.name(answer.top, labels)} (its top label only)"
    ranked = sorted(answer.scores.items(), key=lambda kv: -kv[1])[:TOP_SHOWN]
    return ", ".join(f"{answer.name(i, labels)} {p:.0%}" for i, p in ranked)


class VictimTestRow(QWidget):
    """A Test button and the victim's answer, for the query mode's settings."""

    def __init__(self, jobs: Jobs, values: Callable[[], dict[str, Any]], image: Callable[[], np.ndarray | None],
                 labels: Callable[[], LabelSet], parent: QWidget | None = None) -> None:
        """`values`: the query mode's form values (the victim and how to ask it are read)."""
        super().__init__(parent)
        self._jobs, self._values, self._image, self._labels = jobs, values, image, labels
        self.button = QPushButton("Test")
        self.button.setToolTip("Ask the victim once about the open image and show its answer (not counted "
                               "against the run's questions)")
        self.answer = QLabel("")
        self.answer.setWordWrap(True)
        self.answer.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.button)
        row.addWidget(self.answer, 1)
        self.button.clicked.connect(self.test)

    def test(self) -> None:
        image = self._image()
        if image is None:
            self.answer.setText("Open an image first.")
            return
        victim_settings = {k: v for k, v in self._values().items() if k.startswith("victim")}
        if not str(victim_settings.get("victim", "")).strip():
            self.answer.setText("Name a victim first: a URL or a model.")
            return
        try:
            config = make_config("query", **victim_settings)
            labels = self._labels()
            options = http_options(config)
        except Exception as exc:  # noqa: BLE001 - a bad setting: say it where the user looks
            self.answer.setText(str(exc))
            return
        png = encode_png(image)

        def ask() -> str:
            victim = make_victim(config.victim, labels, options, top_k=config.victim_top_k, max_queries=1)
            return describe_answer(victim.ask(png), victim.labels)

        self.button.setEnabled(False)
        self.answer.setText("Asking…")
        self._jobs.run("victim-test", ask, self._answered, self._failed, "Asking the victim…")

    def _answered(self, text: str) -> None:
        self.button.setEnabled(True)
        self.answer.setText(f"It answers: {text}")

    def _failed(self, message: str) -> None:
        self.button.setEnabled(True)
        self.answer.setText(message)
