"""Success as an object (as in Foolbox's criteria): what "the model sees the target" means,
asked of a model's probabilities, one place for every loop, the pipeline, the judges and
the defence checks instead of a comparison written in each.

    TargetedTop1(target, confidence=0.5)   the target is the top-1 class, with >= 0.5
    TopK(target, 5)                        the target is among the five highest
    TargetedTop1(t) & TopK(t, 1)           both (AllOf)
    SurvivesDefences(TargetedTop1(t), [...])  still met after each purifier (defences/survival.py)

A criterion is asked of an oracle's answer: the probabilities a model gives an image
through its standard preprocessing and own runtime.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch


class Criterion(ABC):
    """Is an answer (one model's probabilities over its labels) a success?"""

    @abstractmethod
    def met(self, probs: torch.Tensor) -> bool:
        """`probs`: (classes,) probabilities of one image by one model."""

    @abstractmethod
    def describe(self) -> str:
        """A few words for reports: "top-1 is class 1 with >= 50%"."""

    def __and__(self, other: Criterion) -> AllOf:
        mine = self.parts if isinstance(self, AllOf) else (self,)
        theirs = other.parts if isinstance(other, AllOf) else (other,)
        return AllOf((*mine, *theirs))


@dataclass(frozen=True)
class TargetedTop1(Criterion):
    """The target is the top-1 class, with at least `confidence` probability."""

    target: int
    confidence: float = 0.0

    def met(self, probs: torch.Tensor) -> bool:
        return int(probs.argmax()) == self.target and float(probs[self.target]) >= self.confidence

    def describe(self) -> str:
        need = f" with >= {self.confidence:.0%}" if self.confidence > 0 else ""
        return f"top-1 is class {self.target}{need}"


@dataclass(frozen=True)
class TopK(Criterion):
    """The target is among the k most probable classes."""

    target: int
    k: int = 5

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be at least 1, not {self.k}")

    def met(self, probs: torch.Tensor) -> bool:
        k = min(self.k, probs.numel())
        return self.target in probs.topk(k).indices.tolist()

    def describe(self) -> str:
        return f"class {self.target} in the top {self.k}"


@dataclass(frozen=True)
class AllOf(Criterion):
    """Every part is met."""

    parts: tuple[Criterion, ...]

    def met(self, probs: torch.Tensor) -> bool:
        return all(part.met(probs) for part in self.parts)

    def describe(self) -> str:
        return " and ".join(part.describe() for part in self.parts)


def met_by_all(criterion: Criterion, answers: list[torch.Tensor]) -> bool:
    """Several models' answers (the crafting ensemble): every one must meet it."""
    return bool(answers) and all(criterion.met(p) for p in answers)
