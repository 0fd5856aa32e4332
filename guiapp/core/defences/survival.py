"""Does a target survive purification? The real purifiers on 8-bit images, at both places
a defender applies them (`LEVELS`): the file at its own resolution, then the model's
standard PIL preprocessing; or the model's 8-bit 224-px view, classified as it is."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ..criteria import Criterion, TargetedTop1
from ..errors import Cancelled
from ..models import Classifier
from ..predict import classify_pil, classify_view
from .base import LEVELS, Defence, model_view
from .eot import Anchors


def purify(image: np.ndarray, defence: Defence, level: str, spec=None,
           cancel: threading.Event | None = None) -> np.ndarray:
    """The purified image a defender classifies: the whole file purified ("file") or the
    model's view purified ("view"; `spec` is the model's preprocessing). A slow purifier
    stops within one of its iterations once `cancel` is set (raising Cancelled)."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    source = image if level == "file" else model_view(image, spec)
    if not defence.slow:
        return defence(source)
    # A slow purifier is deterministic: the attack's last check and the evaluation of the
    # saved PNG (the same pixels) share one run.
    key = (defence.label, hashlib.sha1(np.ascontiguousarray(source).tobytes()).hexdigest(), source.shape)
    if key not in _slow_results:
        if len(_slow_results) >= 8:
            _slow_results.pop(next(iter(_slow_results)))
        _slow_results[key] = defence(source, cancel=cancel)  # a cancelled run is not kept
    return _slow_results[key]


_slow_results: dict[tuple, np.ndarray] = {}


def classify_purified(model: Classifier, image: np.ndarray, defence: Defence, level: str) -> torch.Tensor:
    """The model's probabilities for `image` after `defence` at `level`."""
    out = purify(image, defence, level, model.spec)
    return classify_pil(model, Image.fromarray(out)) if level == "file" else classify_view(model, out)


def settings_of(defences: Iterable[Defence]) -> list[Defence]:
    """Every checked setting of every defence (jpeg at 50, 75 and 90...)."""
    return [s for d in defences for s in d.settings()]


def as_criterion(target: int | Criterion, confidence: float = 0.0) -> Criterion:
    """A class index means "the top-1 with at least `confidence`"."""
    return target if isinstance(target, Criterion) else TargetedTop1(int(target), confidence)


def survival(model: Classifier, image: np.ndarray, target: int | Criterion, defences: Sequence[Defence],
             confidence: float = 0.0, levels: Sequence[str] = LEVELS, stop_early: bool = False) -> dict[str, bool]:
    """'level:setting' -> is the criterion (a class index: targeted top-1) still met after
    that real purifier (e.g. 'file:jpeg-50')? With `stop_early` the first failure ends the
    checks (the dict then holds what was run)."""
    criterion = as_criterion(target, confidence)
    out: dict[str, bool] = {}
    for d in settings_of(defences):
        for level in [lv for lv in levels if lv in d.levels]:
            ok = criterion.met(classify_purified(model, image, d, level))
            out[f"{level}:{d.short}"] = ok
            if stop_early and not ok:
                return out
    return out


def survives(model: Classifier, image: np.ndarray, target: int | Criterion, defences: Sequence[Defence],
             confidence: float = 0.0, levels: Sequence[str] = LEVELS) -> bool:
    """Is the criterion met after every checked setting of every defence, at every level?"""
    return all(survival(model, image, target, defences, confidence, levels, stop_early=True).values())


SLOW_CHECKS = 3  # real runs of the slow purifiers (DIP: ~1 min each) one attack may spend


class SurvivalCheck:
    """The real purifiers' verdict on an attack's candidates: the cheap ones on every
    candidate; the slow ones (DIP) only on a candidate that passed all cheap ones, once
    per round of candidates and at most `slow_checks` times per attack. `exhausted` then
    says to stop; `fallback` is the smallest candidate that passed every cheap purifier."""

    def __init__(self, model: Classifier, target: int, defences: Sequence[Defence], levels: Sequence[str],
                 confidence: float = 0.0, slow_checks: int = SLOW_CHECKS,
                 cancel: threading.Event | None = None) -> None:
        self.model, self.target, self.levels, self.confidence = model, target, tuple(levels), confidence
        # The attack's cancel event: a slow purifier (DIP at 5000 iterations: minutes) stops
        # within one iteration of a cancel, a timeout or a shutdown (issue 33 item 2).
        self.cancel = cancel
        self.criterion = SurvivesDefences(TargetedTop1(target, confidence), tuple(defences), tuple(levels))
        self.cheap = [d for d in defences if not d.slow]
        self.slow = [d for d in defences if d.slow]
        self.slow_left = slow_checks
        self.exhausted = False
        self.round_over = False  # a slow check failed: try again with a wider margin
        self.fallback: np.ndarray | None = None
        self.anchors = Anchors()

    def new_round(self) -> None:
        self.round_over = False

    def __call__(self, image: np.ndarray) -> bool:
        if not survives(self.model, image, self.criterion.base, self.cheap, levels=self.levels):
            return False
        if not self.slow:
            return True
        if self.fallback is None:
            self.fallback = image
        if self.slow_left <= 0:
            self.exhausted = self.round_over = True
            return False
        self.slow_left -= 1
        try:
            return self._slow_check(image)
        except Cancelled:  # the attack was cancelled: no verdict, and its loop ends
            self.exhausted = self.round_over = True
            return False

    def _slow_check(self, image: np.ndarray) -> bool:
        ok = True
        for d in settings_of(self.slow):
            for level in [lv for lv in self.levels if lv in d.levels]:
                out = purify(image, d, level, self.model.spec, self.cancel)
                if level == "view":  # the attack's stand-in is linearised around this real output
                    self.anchors.set(d, model_view(image, self.model.spec), out, self.model.device)
                probs = classify_pil(self.model, Image.fromarray(out)) if level == "file" else classify_view(
                    self.model, out)
                ok = ok and self.criterion.base.met(probs)
        self.round_over = not ok
        return ok

    def anchor_clean(self, image: np.ndarray) -> None:
        """Run the slow purifiers once on the clean image's view: the first anchor."""
        for d in settings_of(self.slow):
            if not self.anchors.pairs.get(d.label) and "view" in d.levels and "view" in self.levels:
                view = model_view(image, self.model.spec)
                try:
                    purified = d(view, cancel=self.cancel)
                except Cancelled:
                    return  # the attack was cancelled: its loop ends after this step
                self.anchors.set(d, view, purified, self.model.device)


@dataclass(frozen=True)
class SurvivesDefences(Criterion):
    """`base` met on the image as it is (`met`) and after every checked setting of each
    defence at each level (`met_on`, which runs the real purifiers)."""

    base: Criterion
    defences: tuple[Defence, ...]
    levels: tuple[str, ...] = LEVELS

    def met(self, probs: torch.Tensor) -> bool:
        return self.base.met(probs)

    def met_on(self, model: Classifier, image: np.ndarray) -> bool:
        return self.base.met(classify_pil(model, Image.fromarray(image))) and survives(
            model, image, self.base, self.defences, levels=self.levels)

    def describe(self) -> str:
        return f"{self.base.describe()}, also after {', '.join(d.label for d in self.defences)}"

