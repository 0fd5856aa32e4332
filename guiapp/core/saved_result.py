"""A run's result on disk and in the eyes of its crafting models.

- `save_result` writes the PNG atomically with the metadata that says how it was made
  (`output_metadata`: the crafting models, their weights, the target, the mode...), keeps
  the input's colour profile, then re-reads the file from disk and classifies it with
  every crafting model through the standard PIL preprocessing: success is what any other
  program sees (a `Verification`).
- `verify_pixels` classifies the same way the pixels Save will write, before any Save (a
  `PixelVerdict`: the window reports a finished run with it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .attacks import AttackResult
from .crafter_labels import CrafterLabels
from .imageio import load_image
from .metrics import Distortion, distortion
from .png_output import save_png
from .predict import Prediction, classify_pil

if TYPE_CHECKING:
    from .pipeline import AttackPlan


@dataclass(frozen=True)
class PixelVerdict:
    """What every crafting model sees in 8-bit pixels, through the standard preprocessing."""

    final: Prediction  # top-1 of the crafters' mean probabilities
    target_conf: float
    success: bool  # every crafting model sees the target (with the required confidence)
    # Each crafting model's own verdict: {"model", "top1_name", "confidence", "target_conf"}.
    seen_by: tuple[dict, ...]


@dataclass(frozen=True)
class Verification(PixelVerdict):
    """The saved file, re-read from disk and classified by every crafting model."""

    path: Path


def output_metadata(plan: AttackPlan, result: AttackResult, psnr: float) -> dict[str, str]:
    """The PNG text chunks that say how an adversarial image was made (several crafting
    models, as in transfer mode, are joined with '+')."""
    return {
        "model": plan.crafted_on,
        "weights": "+".join(m.fingerprint for m in plan.crafters),
        "target": f"{plan.target} {plan.target_name}",
        "eps": str(plan.config.eps),
        "mode": plan.config.mode,
        "steps": str(result.steps),
        "source": plan.source_name,
        "psnr": f"{psnr:.2f}",
    }


def save_result(
    plan: AttackPlan,
    result: AttackResult,
    output: str | Path,
    *,
    metadata: dict[str, str] | None = None,
    dist: Distortion | None = None,
) -> Verification:
    """Save the PNG atomically (never over the input), then re-read it and classify it."""
    psnr = (dist or distortion(plan.image.rgb, result.adversarial, with_ssim=False)).psnr
    meta = {**output_metadata(plan, result, psnr), **(metadata or {})}
    protect = [plan.image.path] if plan.image.path else []
    saved = save_png(output, result.adversarial, plan.image.alpha, meta, protect=protect,
                     icc_profile=plan.image.icc_profile, grey=plan.image.greyscale_file)
    verdict = verify_pixels(plan, result, load_image(saved, plan.max_pixels).rgb)
    return Verification(**{f.name: getattr(verdict, f.name) for f in dataclasses.fields(verdict)}, path=saved)


def verify_pixels(plan: AttackPlan, result: AttackResult, pixels: np.ndarray | None = None) -> PixelVerdict:
    """Classify 8-bit pixels with every crafting model through the standard PIL
    preprocessing: a saved file's as re-read from disk, or, with none, the result's own
    pixels, exactly what Save will write (the window reports them before any Save)."""
    rgb = result.adversarial if pixels is None else pixels
    image = Image.fromarray(rgb)
    probs = [classify_pil(m, image) for m in plan.crafters]
    crafter_labels = CrafterLabels(plan.crafters)
    mean = crafter_labels.mean_probs(probs)
    labels = plan.crafters[0].labels
    targets = crafter_labels.targets(plan.target)  # each crafter's own index of the target
    return PixelVerdict(
        final=Prediction(int(mean.argmax()), labels[int(mean.argmax())].name, float(mean.max())),
        target_conf=float(mean[plan.target]),
        success=plan.strategy.saved_success(plan, result, probs, targets, rgb),
        seen_by=tuple({"model": m.name, "top1_name": m.labels[int(p.argmax())].name, "confidence": float(p.max()),
                       "target_conf": float(p[t])} for m, p, t in zip(plan.crafters, probs, targets, strict=True)),
    )
