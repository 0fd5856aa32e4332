"""The victim's answers as the query mode reads them: one record per question (reports,
the live plot), the target in the victim's labels, and how close an answer is to it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import LabelError
from ..labels import LabelSet, same_class
from ..models import Classifier
from ..victims import Answer, Victim


@dataclass(frozen=True)
class QueryRecord:
    """One question and the victim's answer, for reports and the live plot."""

    query: int  # 1-based
    phase: str  # "ladder", "search" (re-crafted), "patch" (a patch proposal) or "settle" (less noise)
    scale: float  # share of the crafted noise asked about
    grown_db: float  # how far the noise allowed was raised above the budget when asked (dB)
    top1: int  # the victim's top class, as an index of the crafting labels (-1: not among them)
    top1_name: str
    top1_score: float  # the victim's score of its top class (nan when it did not say)
    target_score: float  # the victim's score of the target (nan when it did not say)
    agrees: bool
    psnr: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in self.__dict__.items()}


def victim_target(victim: Victim, crafting: Classifier, target: int) -> int:
    """The target (an index of the crafting model's labels) in the victim's own labels."""
    if victim.labels is crafting.labels or victim.labels.names == crafting.labels.names:
        return target
    index = same_class(crafting.labels[target], victim.labels)
    if index is None:
        raise LabelError(f"the victim {victim.name} has no class named like {crafting.labels[target].name!r}")
    return index


def progress(answer: Answer, target: int) -> float:
    """How close an answer is to the target, higher is closer: 1 + score when the victim
    agrees; else the target's score minus the top score (in [-1, 0]); when the target was
    not among the scores it gave, -1 - the top score (a less sure victim is closer); 0 when
    it says its top label only and disagrees (nothing to climb)."""
    if answer.says(target):
        return 1.0 + (answer.score(target) or 0.0)
    if not answer.scores:
        return 0.0
    mine = answer.score(target)
    top = answer.top_score() or 0.0
    return -1.0 - top if mine is None else mine - top


def best_phrase(record: QueryRecord) -> str:
    """What the victim said to a try, in a few words: its target score, or its top class."""
    if math.isfinite(record.target_score):
        return f"target score {record.target_score:.3f}"
    return f"it saw {record.top1_name}"


def crafting_index(victim_labels: LabelSet, crafting: LabelSet, victim_index: int) -> int:
    """The victim's class `victim_index` as an index of the crafting labels (-1: none)."""
    if victim_labels is crafting or victim_labels.names == crafting.names:
        return victim_index
    if not 0 <= victim_index < len(victim_labels):
        return -1
    index = same_class(victim_labels[victim_index], crafting)
    return -1 if index is None else index
