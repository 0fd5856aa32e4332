"""Does a target survive purification? The real purifiers on 8-bit images, at both places
a defender applies them (`LEVELS`): the file at its own resolution, then the model's
standard PIL preprocessing; or the model's 8-bit 224-px view, classified as it is."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from PIL import Image

from ..models import Classifier
from ..predict import classify_pil, classify_view, meets_target
from .base import LEVELS, Defence, model_view


def purify(image: np.ndarray, defence: Defence, level: str, spec=None) -> np.ndarray:
    """The purified image a defender classifies: the whole file purified ("file") or the
    model's view purified ("view"; `spec` is the model's preprocessing)."""
    if level == "file":
        return defence(image)
    if level == "view":
        return defence(model_view(image, spec))
    raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")


def classify_purified(model: Classifier, image: np.ndarray, defence: Defence, level: str) -> torch.Tensor:
    """The model's probabilities for `image` after `defence` at `level`."""
    out = purify(image, defence, level, model.spec)
    return classify_pil(model, Image.fromarray(out)) if level == "file" else classify_view(model, out)


def settings_of(defences: Iterable[Defence]) -> list[Defence]:
    """Every checked setting of every defence (jpeg at 50, 75 and 90...)."""
    return [s for d in defences for s in d.settings()]


def survival(model: Classifier, image: np.ndarray, target: int, defences: Sequence[Defence],
             confidence: float = 0.0, levels: Sequence[str] = LEVELS, stop_early: bool = False) -> dict[str, bool]:
    """'level:setting' -> does the target hold after that real purifier (e.g. 'file:jpeg-50')?
    With `stop_early` the first failure ends the checks (the dict then holds what was run)."""
    out: dict[str, bool] = {}
    for d in settings_of(defences):
        for level in levels:
            ok = meets_target(classify_purified(model, image, d, level), target, confidence)
            out[f"{level}:{d.short}"] = ok
            if stop_early and not ok:
                return out
    return out


def survives(model: Classifier, image: np.ndarray, target: int, defences: Sequence[Defence],
             confidence: float = 0.0, levels: Sequence[str] = LEVELS) -> bool:
    """Does the target hold after every checked setting of every defence, at every level?"""
    return all(survival(model, image, target, defences, confidence, levels, stop_early=True).values())
