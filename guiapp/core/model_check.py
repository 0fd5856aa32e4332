"""The check a user runs first on their own model: top-1 / top-5 on a labelled folder.

A wrapped model with the wrong preprocessing still runs, and answers nonsense with
confidence (accuracy near zero: Foolbox #575, #303, #92). Its accuracy on a few labelled
photos shows at once whether the card's labels, resize, pixel range, mean/std and channel
order are right.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

from .centroids import find_class_images
from .errors import GuiappError
from .imageio import MAX_PIXELS
from .models import Classifier
from .predict import classify_pil, load_for_prediction

MAX_CHECK_IMAGES = 100_000


@dataclass
class CheckResult:
    """Top-1 / top-5 hits over the images read; `unreadable`: (file, why)."""

    images: int = 0
    top1: int = 0
    top5: int = 0
    classes: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    misses: list[tuple[str, str, str]] = field(default_factory=list)  # file, expected, predicted

    @property
    def top1_rate(self) -> float:
        return self.top1 / self.images if self.images else float("nan")

    @property
    def top5_rate(self) -> float:
        return self.top5 / self.images if self.images else float("nan")


def labelled_images(folder: str | Path, model: Classifier, limit: int | None = None) -> list[tuple[Path, int]]:
    """(file, class) pairs of an ImageFolder tree or flat `<label>_*.ext` files, in a fixed
    order; `limit` takes an even spread over the classes first."""
    per_class = find_class_images(folder, model)
    rounds: list[tuple[Path, int]] = []
    depth = max(len(v) for v in per_class.values())
    for i in range(depth):  # one image per class, then a second per class...
        rounds.extend((paths[i], index) for index, paths in sorted(per_class.items()) if i < len(paths))
    limit = min(limit or MAX_CHECK_IMAGES, len(rounds))
    first = len(per_class)  # the first round: one image of every class
    if limit < first:
        # Evenly spaced over the classes, not the first N of them (walked: --n 50 of ImageNet's
        # 1000 took 50 fish and birds).
        return [rounds[j * first // limit] for j in range(limit)]
    return rounds[:limit]


def check_model(model: Classifier, pairs: list[tuple[Path, int]],
                max_pixels: int = MAX_PIXELS) -> Iterator[CheckResult]:
    """Classify each file through the model's standard preprocessing and own runtime; yields
    the running result after every image (for a progress bar)."""
    result = CheckResult(classes=len({c for _, c in pairs}))
    k = min(5, len(model.labels))
    for path, expected in pairs:
        try:
            loaded = load_for_prediction(path, model, max_pixels)
        except GuiappError as exc:
            result.unreadable.append((str(path), str(exc)))
            yield result
            continue
        probs = classify_pil(model, Image.fromarray(loaded.rgb))
        top = torch.topk(probs, k).indices.tolist()
        result.images += 1
        result.top1 += top[0] == expected
        result.top5 += expected in top
        if top[0] != expected:
            result.misses.append((path.name, model.labels[expected].name, model.labels[top[0]].name))
        yield result
