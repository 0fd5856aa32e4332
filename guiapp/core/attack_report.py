"""What a finished attack reports, and what other models see in its file.

- `judge` asks models that took no part in crafting what they see in a saved file;
- `AttackReport` is the one report every front-end shows or serialises (the CLI's JSON,
  the HTTP response, batch's rows, the window's result line);
- `make_report` builds it from a plan, its run, the distortion figures and the saved
  file's verification.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from .arguments import as_model
from .criteria import TargetedTop1
from .imageio import MAX_PIXELS, load_image
from .labels import LabelSet, same_class
from .metrics import Distortion
from .models import Classifier
from .predict import Prediction, classify_pil
from .saved_result import PixelVerdict, Verification

if TYPE_CHECKING:
    from .pipeline import AttackPlan, AttackRun


def judge(judges: Sequence[str | Classifier], image: str | Path | np.ndarray, target: int,
          device: str | torch.device | None = None, max_pixels: int = MAX_PIXELS,
          labels: LabelSet | None = None) -> dict[str, dict]:
    """Ask models that took no part in crafting what they see in a saved file (or an
    8-bit image): name -> {top1, top1_name, confidence, target_conf, success}. `labels`:
    the list `target` indexes (the crafters'); a judge with other labels is asked about
    the class of the same name (none: it cannot be fooled into it, target_conf NaN)."""
    if not judges:
        return {}
    rgb = image if isinstance(image, np.ndarray) else load_image(image, max_pixels).rgb
    pil = Image.fromarray(rgb)
    verdicts = {}
    for name in judges:
        clf = as_model(name, str(device) if isinstance(device, torch.device) else device)
        probs = classify_pil(clf, pil)
        top1 = int(probs.argmax())
        # A judge with labels of its own is asked about the target by name.
        own = target if labels is None else same_class(labels[target], clf.labels)
        verdicts[clf.name] = {
            "top1": top1,
            "top1_name": clf.labels[top1].name,
            "confidence": float(probs[top1]),
            "target_conf": float(probs[own]) if own is not None else float("nan"),
            "success": own is not None and TargetedTop1(own).met(probs),
        }
    return verdicts


@dataclass
class AttackReport:
    input: str
    output: str | None
    model: str
    target: int
    target_name: str
    source: int
    source_name: str
    source_conf: float
    final: int  # top-1 of the saved file re-loaded from disk
    final_name: str
    final_conf: float
    target_conf: float
    success: bool
    cancelled: bool
    linf: float
    l2: float
    psnr: float
    ssim: float
    ciede2000: float  # mean CIEDE2000 colour difference (guiapp.core.metrics)
    haarpsi: float  # HaarPSI similarity, 1 = identical
    steps: int
    seconds: float
    centroids: bool
    width: int
    height: int
    notes: list[str] = field(default_factory=list)
    mode: str = "default"
    # Other models asked for their verdict on the saved file: name -> {top1, top1_name,
    # confidence, target_conf, success}. Never used while crafting.
    judges: dict[str, dict] = field(default_factory=dict)
    # Swirls on flat areas, luma levels (guiapp.core.metrics.flat_area_swirl; <= 0.5 unseen)
    flat_swirl: float = float("nan")
    # Query mode: the victim, how many questions it was asked, and each answer (QueryRecord).
    victim: str | None = None
    # Each crafting model's own verdict on the saved file (several in transfer and query
    # modes): {"model", "top1_name", "confidence", "target_conf"}; `final` is their average.
    crafters_see: list[dict] = field(default_factory=list)
    queries: int | None = None
    answers: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    # -- its words: every front-end (the CLI's lines, the window's result line) says these --
    def noise_figures(self) -> list[str]:
        """The distortion of the saved pixels, figure by figure."""
        return [f"L-inf {self.linf:.0f}/255", f"L2 {self.l2:.3f}", f"PSNR {self.psnr:.1f} dB",
                f"SSIM {self.ssim:.4f}", f"CIEDE2000 {self.ciede2000:.2f}", f"HaarPSI {self.haarpsi:.4f}",
                f"flat-area swirl {self.flat_swirl:.2f}"]

    def crafters_verdicts(self) -> list[str]:
        """Each crafting model's own verdict on the saved pixels: their average (`final`)
        is nobody's verdict, so it is never worded as one (issue 34 item 3)."""
        return [seen_phrase(v, self.target_name) for v in self.crafters_see]

    def victim_verdict(self) -> str:
        """Query mode: 'VICTIM sees CLASS 63.0% (target 2.0%) after 3 questions'."""
        asked = self.queries or 0
        if not asked:
            return f"{self.victim} was not asked"
        said = seen_phrase({"model": self.victim, "top1_name": self.final_name, "confidence": self.final_conf,
                            "target_conf": self.target_conf}, self.target_name)
        return f"{said} after {asked} question{'s' if asked != 1 else ''}"


def seen_phrase(verdict: dict, target_name: str) -> str:
    """One model's own verdict, as every front-end words it: 'efficientnet-lite0 sees
    snowplow 63.0% (target 12.1%)'; the target's score only when it is not the top class,
    and a score only when the model gave one (a victim may answer labels only)."""
    text = f"{verdict['model']} sees {verdict['top1_name']}"
    if verdict["confidence"] == verdict["confidence"]:  # not NaN
        text += f" {verdict['confidence']:.1%}"
    if verdict["top1_name"] != target_name and verdict["target_conf"] == verdict["target_conf"]:
        text += f" (target {verdict['target_conf']:.1%})"
    return text


def make_report(plan: AttackPlan, run: AttackRun, dist: Distortion, verified: PixelVerdict | None,
                verdicts: dict[str, dict]) -> AttackReport:
    """The report of a run; `verified`: the saved file's Verification, the verdict on the
    pixels Save will write (the window's, before any Save), or None when nothing was saved
    (cancelled)."""
    result = run.result
    labels = plan.crafters[0].labels
    width, height = plan.image.size
    final = verified.final if verified else Prediction(result.top1, labels[result.top1].name, result.top1_conf)
    target_conf = verified.target_conf if verified else result.target_conf
    if result.queries:
        # Query mode: what the victim said of the saved pixels is the verdict, not the surrogates'.
        name = labels[result.top1].name if result.top1 >= 0 else str(result.queries[-1].get("top1_name"))
        final, target_conf = Prediction(result.top1, name, result.top1_conf), result.target_conf
    return AttackReport(
        input=str(plan.image.path or plan.source_name),
        output=str(verified.path) if isinstance(verified, Verification) else None,
        model=plan.crafted_on,
        target=plan.target,
        target_name=plan.target_name,
        source=plan.source.index,
        source_name=plan.source.name,
        source_conf=plan.source.confidence,
        final=final.index,
        final_name=final.name,
        final_conf=final.confidence,
        target_conf=target_conf,
        success=verified.success if verified else False,
        cancelled=result.cancelled,
        linf=dist.linf,
        l2=dist.l2,
        psnr=dist.psnr,
        ssim=dist.ssim,
        ciede2000=dist.ciede2000,
        haarpsi=dist.haarpsi,
        flat_swirl=dist.flat_swirl,
        steps=result.steps,
        seconds=run.seconds,
        centroids=plan.uses_centroids,
        width=width,
        height=height,
        notes=[*plan.notes, *result.notes],
        mode=plan.config.mode,
        judges=verdicts,
        victim=getattr(plan.config, "victim", None) if result.queries is not None else None,
        crafters_see=list(verified.seen_by) if verified else list(result.seen_by),
        queries=len(result.queries) if result.queries is not None else None,
        answers=list(result.queries or []),
    )
