"""ImageNet class names, a ranked label search, and the resolution of a label to a class.

A label resolves case-insensitively by class index, WordNet id, the class's display name
or any of its synonyms. Several classes share a synonym ("crane" is a bird and a machine),
so ambiguity is an error that lists the candidates rather than a silent first match.

One ranked search serves every entry point (the GUI's completer, `guiapp-cli labels`,
the suggestions in an error message), so they all answer "cat" with the cat classes and
"golfish" with goldfish.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import LabelError

SYNSETS_FILE = Path(__file__).resolve().parents[2] / "resources" / "imagenet_synsets.txt"

# The synset file has no WordNet parents, and six classes share their first synonym with
# another class. What each one is (from its WordNet gloss) tells them apart by name.
QUALIFIERS = {
    "n02012849": "bird",
    "n03126707": "machine",
    "n02113186": "Welsh corgi dog",
    "n02963159": "sweater",
    "n03710637": "dancer's tights",
    "n03710721": "tank suit, swimsuit",
}

FUZZY_CUTOFF = 0.75  # difflib ratio: "golfish" ~ "goldfish" is 0.93, "zzzz" ~ anything < 0.3


@dataclass(frozen=True)
class ImageNetClass:
    """One class of a model: ImageNet's (with its WordNet id) or a model's own (wnid "")."""

    index: int
    wnid: str
    synonyms: tuple[str, ...]
    name: str  # unique display name

    def describe(self) -> str:
        return f"{self.index} {self.wnid + ' ' if self.wnid else ''}{self.name}" + (
            f" ({', '.join(self.synonyms[1:])})" if len(self.synonyms) > 1 else ""
        )


def _normalise(text: str) -> str:
    return re.sub(r"[\s_]+", " ", text.strip().lower())


_WORD_SPLIT = re.compile(r"[\s\-'/.,()]+")


class LabelSet:
    """The classes of a model, with lookup by any of their names."""

    def __init__(self, classes: list[ImageNetClass]) -> None:
        self.classes = classes
        self._by_key: dict[str, set[int]] = {}
        # A class's own name or whole synonym string (resolve's prefer_own): "partridge" is
        # class 86's whole string and one synonym of 82, "ruffed grouse, partridge, Bonasa
        # umbellus"; a victim answering with whole synonym strings said "partridge" and its
        # answer was refused as ambiguous.
        self._own: dict[str, set[int]] = {}
        # Per class, its searchable strings, display name first (a hit there ranks higher).
        self._texts: list[tuple[str, ...]] = []
        for c in classes:
            # The whole synonym string too: hosted models answer "goldfish, Carassius auratus".
            texts = tuple(dict.fromkeys(_normalise(s) for s in (c.name, *c.synonyms, ", ".join(c.synonyms))))
            self._texts.append(texts)
            for key in {_normalise(c.wnid), *texts} - {""}:
                self._by_key.setdefault(key, set()).add(c.index)
            for key in {_normalise(c.name), _normalise(", ".join(c.synonyms))} - {""}:
                self._own.setdefault(key, set()).add(c.index)

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
                name = f"{name} ({QUALIFIERS.get(wnid, wnid)})"
            classes.append(ImageNetClass(i, wnid, syn, name))
        return cls(classes)

    @classmethod
    def from_names(cls, names: Sequence[str]) -> "LabelSet":
        """A model's own class names in output order. A name may be a full synonym string
        ("goldfish, Carassius auratus", as hosted models name ImageNet classes): each part
        is searchable. A list that is ImageNet-1k's (by synonym strings or first names) is
        ImageNet's own set, so WordNet ids and the qualified names work too."""
        imagenet = imagenet_labels()
        if len(names) == len(imagenet) and all(
            _normalise(n) in (_normalise(", ".join(c.synonyms)), _normalise(c.synonyms[0]), _normalise(c.name))
            for n, c in zip(names, imagenet.classes, strict=True)
        ):
            return imagenet
        parts = [tuple(s.strip() for s in n.split(",") if s.strip()) or (n.strip(),) for n in names]
        counts: dict[str, int] = {}
        for syn in parts:
            counts[syn[0].lower()] = counts.get(syn[0].lower(), 0) + 1
        # Two classes with one first name get their index added, so every display name is unique.
        return cls([ImageNetClass(i, "", syn, syn[0] if counts[syn[0].lower()] == 1 else f"{syn[0]} ({i})")
                    for i, syn in enumerate(parts)])

    @classmethod
    def numbered(cls, count: int) -> "LabelSet":
        """'class 0', 'class 1', ...: for a model whose class names nobody gave."""
        return cls([ImageNetClass(i, "", (f"class {i}",), f"class {i}") for i in range(count)])

    @property
    def is_imagenet(self) -> bool:
        return self is imagenet_labels()

    def __len__(self) -> int:
        return len(self.classes)

    def __getitem__(self, index: int) -> ImageNetClass:
        return self.classes[index]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    def same_name(self, label: str) -> tuple[int, ...]:
        """The classes whose own name or whole synonym string `label` is (two for ImageNet's
        "crane": a victim answering it says one of them, not which)."""
        return tuple(sorted(self._own.get(_normalise(label), ())))

    def resolve(self, label: str | int, *, prefer_own: bool = False) -> int:
        """Class index for `label`; raises LabelError naming candidates or suggestions.
        `prefer_own`: a key several classes share resolves to the one whose own name or whole
        synonym string it is (a victim's answer names one class; a person who types
        "maillot" is asked which one)."""
        # "-1" is an index out of range, not an unknown name
        if isinstance(label, int) or (isinstance(label, str) and label.strip().lstrip("+-").isdecimal()):
            index = int(label.strip() if isinstance(label, str) else label)
            if 0 <= index < len(self.classes):
                return index
            raise LabelError(f"class index {index} is out of range 0..{len(self.classes) - 1}")
        key = _normalise(label)
        if not key:
            raise LabelError("empty label: give a class name, synonym, WordNet id or index")
        hits = self._by_key.get(key)
        if hits and len(hits) == 1:
            return next(iter(hits))
        own = self._own.get(key, set()) & (hits or set()) if prefer_own else set()
        if len(own) == 1:  # the class whose name (or whole synonym string) this is
            return next(iter(own))
        if hits:
            options = "; ".join(self.classes[i].describe() for i in sorted(hits))
            raise LabelError(f"label {label!r} is ambiguous; use the name, index or WordNet id of one of: {options}")
        close = self.suggest(label, limit=5)
        hint = f"; did you mean: {', '.join(repr(c.name) for c in close)}?" if close else ""
        raise LabelError(f"unknown label {label!r}{hint}")

    def _tier(self, index: int, key: str) -> int | None:
        """How well `key` matches this class (lower is better), None if not at all.

        0 the whole name, a synonym, the wnid or the index; 1 a whole word of a name
        ("cat" in "tiger cat"); 2 the start of a word ("cat" in "catamaran"); 3 anywhere.
        """
        c = self.classes[index]
        if key.isdigit():
            # Digits mean an index; long runs of them may also be part of a wnid.
            if key == str(c.index):
                return 0
            return 3 if len(key) >= 5 and key in c.wnid else None
        if c.wnid and key == c.wnid:
            return 0
        best: int | None = None
        if c.wnid:
            best = 2 if c.wnid.startswith(key) else 3 if key in c.wnid else None
        for text in self._texts[index]:
            if key not in text:
                continue
            words = [w for w in _WORD_SPLIT.split(text) if w]
            if text == key:
                return 0
            if (" " not in key and key in words) or (" " in key and f" {key} " in f" {text} "):
                tier = 1
            elif any(w.startswith(key) for w in words) or text.startswith(key):
                tier = 2
            else:
                tier = 3
            best = tier if best is None else min(best, tier)
        return best

    def search(self, text: str = "") -> list[ImageNetClass]:
        """Classes matching `text`, best first (all classes, in order, if empty).

        Exact name/synonym/wnid/index, then whole-word, word-prefix and substring matches
        (each in class order, which keeps related classes together); when nothing matches
        at all, close spellings ("golfish" -> goldfish), most similar first.
        """
        key = _normalise(text)
        if not key:
            return list(self.classes)
        ranked = []
        for i in range(len(self.classes)):
            tier = self._tier(i, key)
            if tier is not None:
                ranked.append((tier, i))
        if ranked:
            return [self.classes[i] for _, i in sorted(ranked)]
        return self._fuzzy(key)

    def _fuzzy(self, key: str) -> list[ImageNetClass]:
        matcher = difflib.SequenceMatcher(autojunk=False)
        matcher.set_seq2(key)
        scored = []
        for i, texts in enumerate(self._texts):
            best = 0.0
            for text in texts:
                # Compare with the whole name and with each word ("golfish" vs "goldfish").
                for candidate in (text, *_WORD_SPLIT.split(text)):
                    if not candidate:
                        continue
                    matcher.set_seq1(candidate)
                    if matcher.real_quick_ratio() < FUZZY_CUTOFF or matcher.quick_ratio() < FUZZY_CUTOFF:
                        continue
                    best = max(best, matcher.ratio())
            if best >= FUZZY_CUTOFF:
                scored.append((-best, i))
        return [self.classes[i] for _, i in sorted(scored)]

    def suggest(self, text: str, limit: int = 10) -> list[ImageNetClass]:
        """The best `limit` classes for what a person typed (also for misspellings)."""
        return self.search(text)[:limit] if _normalise(text) else []


@lru_cache(maxsize=1)
def imagenet_labels() -> LabelSet:
    return LabelSet.from_synsets_file()


def same_class(cls: ImageNetClass, labels: LabelSet) -> int | None:
    """The index in `labels` of the class named like `cls` (another model's class): by
    WordNet id when both have one, else by a name or synonym in common; None if none is."""
    if cls.wnid:
        for other in labels.classes:
            if other.wnid == cls.wnid:
                return other.index
    for text in (cls.name, ", ".join(cls.synonyms), *cls.synonyms):
        hits = labels._by_key.get(_normalise(text))
        if hits and len(hits) == 1:
            return next(iter(hits))
    return None


def random_target(name: str, seed: int, source: int, num_classes: int) -> int:
    """A seeded random class for the file `name`, never its `source` class: the same for
    the same name and seed (so a resumed batch or evaluation picks the same)."""
    import zlib

    import numpy as np

    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    t = int(rng.integers(0, num_classes - 1))
    return t + 1 if t >= source else t
