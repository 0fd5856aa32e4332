"""What a victim answers, in the shapes hosted classifiers use: `parse_answer` reads a JSON
answer (top k, a label-to-score mapping, a score list, or the top label alone; detected or
named) into an `Answer` over a label list. Label strings are found by the same search as a
target (names, synonyms, full synonym strings such as "goldfish, Carassius auratus")."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import GuiappError, LabelError
from .labels import LabelSet

ANSWER_FORMATS = ("auto", "topk", "mapping", "scores", "label")
WRAPPERS = ("predictions", "results", "result", "output", "outputs", "data", "top_k", "topk", "labels", "classes")
LABEL_KEYS = ("label", "class", "name", "class_name", "category", "top", "prediction")
SCORE_KEYS = ("score", "probability", "prob", "confidence", "p", "value")


class VictimError(GuiappError):
    """A victim that could not be asked or answered something we cannot read."""


@dataclass(frozen=True)
class Answer:
    """What the victim said about one image: its top class and the scores it gave (all of
    its classes, its top k, or none when it answers its top label only)."""

    top: int
    scores: dict[int, float] = field(default_factory=dict)
    # Labels the answer used that name several classes alike (ImageNet's two "crane"s): the
    # class it is keyed under -> every class the label names. The victim said one of them,
    # not which: none of them is said, nor scored.
    shared: dict[int, tuple[int, ...]] = field(default_factory=dict)

    def unsure(self, index: int) -> bool:
        """Did the answer name `index` only by a label another class shares?"""
        return any(index in group for group in self.shared.values())

    def score(self, index: int) -> float | None:
        """The victim's score of a class (None when it did not say, or not which class)."""
        return None if self.unsure(index) else self.scores.get(index)

    def top_score(self) -> float | None:
        """The score of the victim's top label (whichever class it names)."""
        return self.scores.get(self.top)

    def says(self, index: int) -> bool:
        return self.top == index and not self.unsure(index)

    def name(self, index: int, labels: LabelSet) -> str:
        """A class of the answer by name ("crane (bird) or crane (machine)" for a shared label)."""
        group = self.shared.get(index)
        if group:
            return " or ".join(labels[i].name for i in group)
        return labels[index].name if 0 <= index < len(labels) else "?"


def parse_answer(data: Any, labels: LabelSet, fmt: str = "auto") -> Answer:
    """A classifier's JSON answer as an Answer. The shapes understood:

    - topk: a list of {"label": ..., "score": ...} (label keys: label, class, name...;
      score keys: score, probability, confidence...), the hosted top-k style;
    - mapping: {label: score, ...};
    - scores: a list of numbers, one per label (logits or probabilities);
    - label: the top label alone ("goldfish", {"label": "goldfish"}).

    Any of them may come wrapped in one object ({"predictions": [...]}). Labels may be a
    name, a synonym, a full synonym string or a class index.
    """
    data = _unwrap(data)
    kind = fmt if fmt != "auto" else _detect(data)
    try:
        if kind in ("topk", "mapping"):
            if kind == "topk":
                pairs = [_pair(item) for item in _as_list(data, "a list of {label, score} objects")]
            elif isinstance(data, dict) and data:
                pairs = [(label, _number(score)) for label, score in data.items()]
            else:
                raise VictimError("expected a {label: score} object")
            if not pairs:
                raise VictimError("the victim's answer lists no labels")
            scores, shared = {}, {}
            for label, score in pairs:
                index, group = _classes(label, labels)
                scores[index] = score
                if len(group) > 1:
                    shared[index] = group
            return Answer(max(scores, key=lambda i: scores[i]), scores, shared)
        if kind == "scores":
            values = [_score(v) for v in _as_list(data, "a list of scores")]
            if len(values) != len(labels):
                raise VictimError(f"the victim answered {len(values)} scores for {len(labels)} labels")
            array = np.asarray(values)
            return Answer(int(array.argmax()), dict(enumerate(values)))
        if kind == "label":
            label = data
            if isinstance(data, dict):
                label = next((data[k] for k in LABEL_KEYS if k in data), None)
            if not isinstance(label, (str, int)) or isinstance(label, bool):
                raise VictimError("expected a label")
            index, group = _classes(label, labels)
            return Answer(index, {}, {index: group} if len(group) > 1 else {})
    except VictimError as exc:
        # A shape the user named that the answer does not have: say which one it looks like
        # (walked: "--victim-answers label" against a top-k victim read as a broken victim).
        seen = _detect(data) if fmt != "auto" else "unknown"
        hint = (f"; it looks like the {seen} shape: --victim-answers {seen} (victim_answers), or auto"
                if seen not in ("unknown", kind) else "")
        raise VictimError(f"the victim's answer is not a classification ({exc}): {_show(data)}{hint}") from None
    raise VictimError(f"the victim's answer is not a classification in a shape guiapp knows "
                      f"(topk, mapping, scores or label; the victim_answers option, --victim-answers, names one): "
                      f"{_show(data)}")


def _unwrap(data: Any) -> Any:
    for _ in range(3):
        if isinstance(data, dict) and len(data) == 1:
            key, value = next(iter(data.items()))
            if str(key).lower() in WRAPPERS and isinstance(value, (list, dict, str)):
                data = value
                continue
        break
    return data


def _detect(data: Any) -> str:
    if isinstance(data, (str, int)) and not isinstance(data, bool):
        return "label"
    if isinstance(data, list) and data:
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in data):
            return "scores"
        if all(isinstance(v, dict) for v in data):
            return "topk"
    if isinstance(data, dict) and data:
        if any(k in data for k in LABEL_KEYS) and not any(k in data for k in SCORE_KEYS):
            return "label"
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in data.values()):
            return "mapping"
    return "unknown"


def _as_list(data: Any, what: str) -> list:
    if not isinstance(data, list):
        raise VictimError(f"expected {what}")
    return data


def _pair(item: Any) -> tuple[Any, float]:
    if not isinstance(item, dict):
        raise VictimError("expected {label, score} objects")
    label = next((item[k] for k in LABEL_KEYS if k in item), None)
    score = next((item[k] for k in SCORE_KEYS if k in item), None)
    if label is None or score is None:
        raise VictimError(f"an entry without a label or a score: {_show(item)}")
    return label, _number(score)


def _score(value: Any) -> float:
    """An entry of a score list: an object or text there means another shape, not a bad number."""
    if isinstance(value, (dict, list, str)):
        raise VictimError(f"expected a list of numbers, one per label; an entry is {_show(value)}")
    return _number(value)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise VictimError(f"a score that is not a finite number: {_show(value)}")
    return float(value)


def _classes(label: Any, labels: LabelSet) -> tuple[int, tuple[int, ...]]:
    """The class an answer's label names, and every class it names alike (one, unless the
    label list has two classes of that very name: ImageNet's "crane")."""
    if isinstance(label, bool) or not isinstance(label, (str, int)):
        raise VictimError(f"a label that is not text: {_show(label)}")
    try:
        index = labels.resolve(label, prefer_own=True)  # an answer names one class
        return index, (index,)
    except LabelError as exc:
        group = labels.same_name(label) if isinstance(label, str) else ()
        if len(group) > 1:  # named alike: the answer stands, without saying which one
            return group[0], group
        raise VictimError(f"a label not among the {len(labels)} classes: {_show(label)} ({exc})") from None


def _show(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
