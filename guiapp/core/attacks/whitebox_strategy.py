"""The white-box modes as a strategy of the shared pipeline: the chosen model is the one
crafter (it must give gradients), the memory estimate, the centroids and the loop
(whitebox.py's TargetedAttack). The robust mode (robust.py) is this strategy with defences."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..centroids import Centroids, data_key, default_centroid_path, file_key, load_centroids, shipped_centroids
from ..memory import MIB, Footprint
from ..models import Classifier
from .base import AttackLoop, AttackStrategy, CentroidsArg, Prepared
from .whitebox import TargetedAttack
from .whitebox_config import AttackConfig

# Memory: extra bytes = FIXED + PER_PIXEL * pixels + PER_RESIZED * pixels of the model's
# resized view. Measured on CPU with EfficientNet-Lite0 (bench/attack_memory.py, 1-16 MP,
# docs/BENCHMARKS.md): least-squares fit 140 MiB + 165 B/px, rounded up so the line lies
# above every measured point. The 62 MP run (10.9 GB peak in all) is consistent with the
# slope. The resized view (the differentiable resize's output and its gradient) matters
# for thin strips, which it upscales: 20000x32 and 60000x32 (41 and 123 M resized pixels)
# added 1073 and 3013 MiB (bench/hardening.py), ~21 B per resized pixel. On CUDA the same
# float32 tensors live on the GPU; that figure is assumed, not measured.
PER_PIXEL = 175
PER_RESIZED = 26
PERCEPTUAL_PER_PIXEL = 16
FIXED = 200 * MIB


class WhiteBoxStrategy(AttackStrategy):
    """The default mode: the smallest noise that makes the chosen model see the target."""

    mode = "default"
    config_type: ClassVar[type] = AttackConfig
    summary = "The smallest noise that makes the chosen model see the target (white-box)."
    per_pixel, per_resized, fixed = PER_PIXEL, PER_RESIZED, FIXED

    def load_crafters(self, config: Any, model: Classifier | str, device: Any, weights: Any) -> list[Classifier]:
        from ..arguments import as_model

        clf = as_model(model, device, weights)
        clf.require_gradients(f"the {config.mode} mode")
        return [clf]

    def estimate_bytes(self, config: Any, footprint: Footprint) -> int:
        # The perceptual budget adds its texture weights and the two per-pixel limits (12 B/px;
        # the map itself is built and freed before the loop, within the loop's allowance).
        per_pixel = self.per_pixel + (PERCEPTUAL_PER_PIXEL if config.budget == "perceptual" else 0)
        return int(self.fixed + per_pixel * footprint.pixels + self.per_resized * footprint.resized_pixels
                   + footprint.model_bytes)

    def step_budget(self, config: Any) -> int:
        return int(config.max_steps)

    def stops_early(self, config: Any) -> bool:
        return True

    def prepare_centroids(self, config: Any, crafters: list[Classifier], centroids: CentroidsArg) -> Prepared:
        notes: list[str] = []
        if config.centroid_weight <= 0 or centroids is None:
            return Prepared(config, None, notes, False)
        model = crafters[0]
        if isinstance(centroids, Centroids):
            found: Centroids | None = centroids
        elif centroids == "auto":
            found = shipped_centroids(model)
            if found is None:
                notes.append(f"no centroid file for {model.name}: attacking with the classification term only")
        else:
            found = load_centroids(centroids, model)
        return Prepared(config, found, notes, found is not None)

    def centroids_fingerprint(self, config: Any, model_name: str, centroids: CentroidsArg) -> str | None:
        if config.centroid_weight <= 0 or centroids is None:
            return None
        if isinstance(centroids, Centroids):
            return data_key(centroids)
        return file_key(default_centroid_path(model_name) if centroids == "auto" else Path(centroids))

    def build(self, config: Any, crafters: list[Classifier], image: np.ndarray, target: int, source: int,
              centroids: Any) -> AttackLoop:
        return TargetedAttack(crafters[0], image, target, config, centroids)

    def required_confidence(self, config: Any) -> float:
        return float(config.confidence)

    def describe(self, config: Any) -> str:
        return (f"{config.mode} mode, budget {config.eps:g}/255, ≤{config.max_steps} steps, "
                f"confidence {config.confidence:g}")
