"""The transfer mode as a strategy of the shared pipeline: which models it loads (the
surrogates, never the chosen model or a judge), its memory estimate, its centroids, and
its loop (transfer.py for one image, transfer_lockstep.py for several in step)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np

from ..centroids import content_hash
from ..memory import MIB, Footprint
from ..models import Classifier
from .base import AttackLoop, AttackStrategy, CentroidsArg, Prepared, StepRecord
from .centroid_terms import centroid_folder, surrogate_centroid_path, surrogate_centroids
from .transfer import TransferAttack, load_surrogates
from .transfer_config import PRESETS, TransferConfig
from .transfer_lockstep import lockstep
from .transfer_ops import SHRINK_PROBES

# Memory: one differentiable graph per surrogate. Measured with the two default surrogates
# already loaded: 423 B/px and no fixed part (1 and 4 MP), i.e. ~212 B/px per surrogate;
# assumed linear in the number of surrogates (only 2 was measured). Loading a surrogate is
# not measured: SURROGATE_LOAD is a generous allowance.
PER_PIXEL_PER_SURROGATE = 225
FIXED = 100 * MIB
SURROGATE_LOAD = 300 * MIB
# Per pixel of each surrogate's resized view (its differentiable resize and the gradient):
# thin strips, which the view upscales, 20000x32 and 40000x32 with the two default
# surrogates (88 and 176 M resized pixels in all) added 1273 and 2350 MiB with the
# surrogates loaded (bench/hardening.py): 12.8 B per resized pixel.
PER_RESIZED = 14
# The perceptual budget's map is built before the loop (and freed, but for its 12 B/px
# bound): 250 B/px measured at 1 MP, 115 B/px at 12 MP (its search samples tiles there).
MAP_PER_PIXEL = 280
BOUND_PER_PIXEL = 12


class TransferStrategy(AttackStrategy):
    mode = "transfer"
    config_type: ClassVar[type] = TransferConfig
    summary = ("Crafted on surrogate models only, to fool models it never saw; quiet (perceptual budget) by "
               "default, the loud preset is the published 16/255 recipe.")
    presets = PRESETS
    uses_chosen_model = False

    def crafter_names(self, config: Any, model_name: str) -> tuple[str, ...]:
        return tuple(config.surrogates)

    def load_crafters(self, config: Any, model: Classifier | str, device: Any, weights: Any) -> list[Classifier]:
        # Never the chosen model (nor a judge): the surrogates only, on the same device.
        if device is None and isinstance(model, Classifier):
            device = model.device
        return load_surrogates(config, device)

    def estimate_bytes(self, config: Any, footprint: Footprint) -> int:
        n = max(1, footprint.models)
        per_pixel = n * PER_PIXEL_PER_SURROGATE
        if config.budget == "perceptual":
            per_pixel = max(per_pixel + BOUND_PER_PIXEL, MAP_PER_PIXEL)
        return int(FIXED + n * SURROGATE_LOAD + per_pixel * footprint.pixels + PER_RESIZED * footprint.resized_pixels
                   + footprint.model_bytes)

    batches_images = True

    def run_together(self, loops: list[AttackLoop]) -> Iterator[tuple[int, StepRecord]]:
        attacks = [loop for loop in loops if isinstance(loop, TransferAttack)]
        if len(attacks) != len(loops):
            raise TypeError("run_together takes the transfer mode's own loops")
        return lockstep(attacks)

    def step_budget(self, config: Any) -> int:
        return int(config.iterations) + (SHRINK_PROBES + 1 if config.shrink_margin is not None else 0)

    def prepare_centroids(self, config: Any, crafters: list[Classifier], centroids: CentroidsArg) -> Prepared:
        if not config.uses_centroids:
            return Prepared(config, None, [], False)
        if centroids is None:  # "none": the term off, as in the other modes; the report says so
            return Prepared(replace(config, centroid_weight=0.0, centroid_mix=0.0), None,
                            ["centroids none: transfer without the centroid term"], False)
        cents = surrogate_centroids(crafters, config.centroid_layers_needed, centroid_folder(centroids))
        return Prepared(config, cents, [], True)

    def centroids_fingerprint(self, config: Any, model_name: str, centroids: CentroidsArg) -> str | None:
        if not config.uses_centroids or centroids is None:
            return None
        # One file per surrogate: shipped ("auto") or from a folder (a file instead is
        # refused here, before any image, with what transfer mode expects).
        folder = centroid_folder(centroids)
        parts = [content_hash(surrogate_centroid_path(name, folder)) or f"missing:{name}"
                 for name in config.surrogates]
        return "files:" + "+".join(parts)

    def build(self, config: Any, crafters: list[Classifier], image: np.ndarray, target: int, source: int,
              centroids: Any) -> AttackLoop:
        return TransferAttack(crafters, image, target, config, centroids, source=source)

    def describe(self, config: Any) -> str:
        if config.budget == "linf":
            budget = f"budget {config.eps:g}/255"
        else:
            budget = (f"perceptual budget {config.budget_psnr:g} dB, SSIM >= {config.min_ssim:g}, "
                      f"cap {config.eps:g}/255")
        return f"transfer on {', '.join(config.surrogates)}, {budget}, {config.iterations} iterations"

    def advice(self, config: Any) -> str:
        if config.budget == "perceptual":
            return "try more iterations, a lower Budget PSNR (more visible), or the loud preset"
        return "try more iterations or a larger budget"

    def failure_text(self, config: Any, steps: int, final_name: str) -> str:
        return f"not every surrogate sees the target in the saved image after {steps} iterations"
