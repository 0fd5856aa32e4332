"""What the crafting models see in an attack's current 8-bit image, the way the saved file
will be judged: through each model's standard PIL preprocessing, never the optimiser's
own differentiable (and, in some modes, randomised) view.

The window's live line shows these "as saved" numbers beside the optimiser's, checked a
few times per run (their cost is a forward pass per crafting model), so the live numbers
and the result line agree at the end of a run and a difference during it is explained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from .crafter_labels import CrafterLabels
from .predict import classify_pil


@dataclass(frozen=True)
class SavedView:
    """The crafting models' mean verdict on one 8-bit image."""

    step: int
    target_conf: float
    source_conf: float
    top1: int
    top1_name: str
    models: str  # who looked: "efficientnet-lite0" or "efficientnet-lite0+efficientnet-lite1"


def as_saved(plan: Any, rgb: np.ndarray, step: int) -> SavedView:
    """The crafters' mean probabilities of `rgb` (an AttackPlan's models, target, source)."""
    pil = Image.fromarray(rgb)
    probs = CrafterLabels(plan.crafters).mean_probs([classify_pil(m, pil) for m in plan.crafters])
    top1 = int(probs.argmax())
    return SavedView(step, float(probs[plan.target]), float(probs[plan.source.index]), top1,
                     plan.crafters[0].labels[top1].name, plan.crafted_on)
