"""Several crafting models with different label lists, seen through the first one's.

Transfer crafts on an ensemble, and a user's models need not share ImageNet's 1000
classes in one order: a 10-class product model beside a 1000-class one, or an ONNX file
whose labels come as synonym strings. The run's target and source are indices of the
*first* crafting model's labels (the list the user searched); every other model gets its
own index of the same class, matched by name (labels.same_class: WordNet id, then a name or
synonym in common). A target one of them lacks is refused before any work, naming it.
Probabilities are averaged in the first model's list: a class another model lacks adds 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch

from .errors import LabelError
from .labels import LabelSet, same_class


def _same_list(a: LabelSet, b: LabelSet) -> bool:
    return a is b or a.names == b.names


@lru_cache(maxsize=32)
def _index_map(first: LabelSet, other: LabelSet) -> torch.Tensor:
    """first-list index -> `other`'s index of the same class, -1 where it has none. Cached:
    label lists live as long as their models, and the live view asks every few steps."""
    return torch.tensor([-1 if (j := same_class(cls, other)) is None else j for cls in first.classes])


class CrafterLabels:
    """The label lists of `models` (anything with `.labels` and `.name`), indexed by the first's."""

    def __init__(self, models: Sequence) -> None:
        if not models:
            raise ValueError("give at least one model")
        self.models = list(models)
        self.first: LabelSet = self.models[0].labels
        # Per model: first-list index -> its own index (-1: it has no such class); None
        # for a model with the first's own list (the identity, no table needed).
        self._maps: list[torch.Tensor | None] = [
            None if _same_list(self.first, m.labels) else self._map_to(m.labels) for m in self.models]

    def _map_to(self, labels: LabelSet) -> torch.Tensor:
        return _index_map(self.first, labels)

    @property
    def shared(self) -> bool:
        """All models classify into one label list."""
        return all(m is None for m in self._maps)

    def index_in(self, model: int, index: int) -> int | None:
        """The first list's class `index` in model `model`'s list, None if it lacks it."""
        table = self._maps[model]
        if table is None:
            return index
        j = int(table[index])
        return None if j < 0 else j

    def targets(self, target: int) -> list[int]:
        """The target in each model's own list; LabelError naming the first model that lacks it."""
        out = []
        for i, m in enumerate(self.models):
            j = self.index_in(i, target)
            if j is None:
                name = self.first[target].name
                raise LabelError(
                    f"{m.name} has no class named like {name!r} (the target, from {self.models[0].name}'s labels): "
                    f"crafting models with different label lists must all have the target; "
                    f"`guiapp-cli labels --model {m.name}` lists its classes")
            out.append(j)
        return out

    def sources(self, source: int, probs: Sequence[torch.Tensor]) -> list[int]:
        """The clean image's class in each model's list: the first's `source` where a model
        has it, else that model's own top-1 on the clean image (`probs`, one per model)."""
        return [j if (j := self.index_in(i, source)) is not None else int(p.argmax())
                for i, p in enumerate(probs)]

    def in_first(self, model: int, probs: torch.Tensor) -> torch.Tensor:
        """Model `model`'s probabilities (…, its classes) in the first's list (0 where it lacks a class)."""
        table = self._maps[model]
        if table is None:
            return probs
        table = table.to(probs.device)
        picked = probs[..., table.clamp(min=0)]
        return torch.where(table >= 0, picked, torch.zeros_like(picked))

    def mean_probs(self, probs: Sequence[torch.Tensor]) -> torch.Tensor:
        """The models' mean probabilities over the first's classes."""
        return torch.stack([self.in_first(i, p) for i, p in enumerate(probs)]).mean(0)

    def top1_in_first(self, model: int, probs: torch.Tensor) -> int:
        """Model `model`'s top-1 class as an index of the first's list, -1 if the first lacks it."""
        top = int(probs.argmax())
        table = self._maps[model]
        if table is None:
            return top
        hits = (table == top).nonzero()
        return int(hits[0]) if len(hits) else -1
