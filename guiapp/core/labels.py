"""ImageNet class names and the resolution of a user's label string to a class index.

A label resolves case-insensitively by class index, WordNet id, the class's display name
or any of its synonyms. Several classes share a synonym ("crane" is a bird and a machine),
so ambiguity is an error that lists the candidates rather than a silent first match.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import LabelError

SYNSETS_FILE = Path(__file__).resolve().parents[2] / "resources" / "imagenet_synsets.txt"


@dataclass(frozen=True)
class ImageNetClass:
    index: int
    wnid: str
    synonyms: tuple[str, ...]
    name: str  # unique display name

    def describe(self) -> str:
        return f"{self.index} {self.wnid} {', '.join(self.synonyms)}"


def _normalise(text: str) -> str:
    return re.sub(r"[\s_]+", " ", text.strip().lower())


class LabelSet:
    """The classes of a model, with lookup by any of their names."""

    def __init__(self, classes: list[ImageNetClass]) -> None:
        self.classes = classes
        self._by_key: dict[str, set[int]] = {}
        for c in classes:
            for key in {c.wnid, c.name, *c.synonyms}:
                self._by_key.setdefault(_normalise(key), set()).add(c.index)

    @classmethod
    def from_synsets_file(cls, path: Path = SYNSETS_FILE) -> "LabelSet":
        """Read `<wnid> <synonym>, <synonym>...` lines, one per class in class order."""
        rows: list[tuple[str, tuple[str, ...]]] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            wnid, _, rest = line.strip().partition(" ")
            rows.append((wnid, tuple(s.strip() for s in rest.split(",") if s.strip())))
        first_counts: dict[str, int] = {}
        for _, syn in rows:
            first_counts[syn[0].lower()] = first_counts.get(syn[0].lower(), 0) + 1
        classes = []
        for i, (wnid, syn) in enumerate(rows):
            name = syn[0]
            if first_counts[name.lower()] > 1:
                # "crane (bird)" is not in the data; the second synonym or the wnid is.
                name = f"{name} ({syn[1]})" if len(syn) > 1 else f"{name} ({wnid})"
            classes.append(ImageNetClass(i, wnid, syn, name))
        return cls(classes)

    def __len__(self) -> int:
        return len(self.classes)

    def __getitem__(self, index: int) -> ImageNetClass:
        return self.classes[index]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    def resolve(self, label: str | int) -> int:
        """Class index for `label`; raises LabelError naming candidates or suggestions."""
        if isinstance(label, int) or (isinstance(label, str) and label.strip().isdigit()):
            index = int(label)
            if 0 <= index < len(self.classes):
                return index
            raise LabelError(f"class index {index} is out of range 0..{len(self.classes) - 1}")
        key = _normalise(label)
        if not key:
            raise LabelError("empty label: give a class name, synonym, WordNet id or index")
        hits = self._by_key.get(key)
        if hits and len(hits) == 1:
            return next(iter(hits))
        if hits:
            options = "; ".join(self.classes[i].describe() for i in sorted(hits))
            raise LabelError(f"label {label!r} is ambiguous; use the index or WordNet id of one of: {options}")
        close = difflib.get_close_matches(key, self._by_key.keys(), n=5, cutoff=0.6)
        if not close:
            close = [k for k in self._by_key if key in k][:5]
        hint = f"; did you mean: {', '.join(repr(c) for c in close)}?" if close else ""
        raise LabelError(f"unknown label {label!r}{hint} (guiapp-cli labels SEARCH lists classes)")

    def search(self, text: str = "") -> list[ImageNetClass]:
        """Classes whose index, wnid or any synonym contains `text` (all classes if empty)."""
        key = _normalise(text)
        if not key:
            return list(self.classes)
        return [
            c
            for c in self.classes
            if key == str(c.index) or key in c.wnid or any(key in _normalise(s) for s in (c.name, *c.synonyms))
        ]


@lru_cache(maxsize=1)
def imagenet_labels() -> LabelSet:
    return LabelSet.from_synsets_file()
