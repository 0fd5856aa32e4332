"""The targeted attack: one step generator shared by the CLI, the GUI and the batch runner.

Two phases, both on a perturbation `delta` at the image's original resolution:

1. search: RMS-normalised gradient steps inside an L-inf box that starts at 2/255 and
   grows x1.4 every 4 steps up to the budget, until the *8-bit* image is classified as
   the target. Starting small and growing keeps the first success close to the smallest
   box that works.
2. refine: a decoupled-direction-and-norm (DDN, Rony et al. 2019) phase that shrinks the
   L2 norm of delta by 20% after every step that is still adversarial and grows it 5%
   after one that is not, keeping the smallest adversarial image seen.

The defaults are chosen by measurement (docs/BENCHMARKS.md): on 20 ImageNet samples,
start 2/255 + 2 refine steps gives median PSNR 50 dB in 9 steps — as fast as 10 steps of
targeted PGD — while start 1/255 + 10 refine steps gives 57 dB in 20 steps (twice the time).

Robust mode (`mode="robust"`) evaluates every step on three views of the model's 224-px
input — as is, 2x down/up rescaled (differentiable), JPEG-75 (real JPEG forward, identity
gradient) — averages their losses, requires all three to hold, and accepts a result only
if `robust_check` (the real defences) agrees. On 100 ImageNet samples it survives both
defences every time at 47.5 dB median PSNR (docs/EVALUATION.md).

8-bit rounding is inside the loop (straight-through gradient), so every logit we look at
is the logit of an image that can actually be saved. A candidate counts only once the
separate criterion — the standard PIL preprocessing of that 8-bit image — agrees.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from . import defences
from .centroids import Centroids
from .memory import check_attack_memory
from .metrics import psnr_from_mse
from .models import Classifier
from .preprocess import denormalise, image_to_tensor, normalise, pil_model_input, tensor_to_image


WHITE_BOX_MODES = ("default", "robust")


@dataclass(frozen=True, kw_only=True)
class AttackConfig:
    """Settings of one targeted attack; the defaults are the measured ones (docs/BENCHMARKS.md)."""

    eps: float = 16.0  # L-inf budget, in 1/255 units of the 8-bit image
    max_steps: int = 200  # give up after this many gradient steps
    refine_steps: int | None = None  # steps shrinking the noise after success; None: 2, robust 10
    confidence: float = 0.0  # required softmax probability of the target (0 = top-1 is enough)
    margin: float = 0.5  # extra logit margin so tiny resampling differences cannot flip the result
    centroid_weight: float = 0.0  # weight of the pull toward the target's centroid
    start_eps: float | None = None  # initial L-inf box (1/255); None: 2, robust 4
    seed: int = 0
    # "default": the smallest noise that flips this model; "robust": expectation over
    # JPEG-75 and 2x-rescale views, so the target survives them. (The transfer mode has
    # its own config, guiapp.core.transfer.TransferConfig.)
    mode: str = "default"

    def __post_init__(self) -> None:
        checks = [
            (self.mode in WHITE_BOX_MODES, f"mode must be one of {', '.join(WHITE_BOX_MODES)} (transfer has its own config)"),
            (0 < self.eps <= 255, "eps must be in (0, 255] (1/255 units)"),
            (self.max_steps >= 1, "max_steps must be at least 1"),
            (self.refine_steps is None or self.refine_steps >= 0, "refine_steps must be >= 0"),
            (0.0 <= self.confidence < 1.0, "confidence must be in [0, 1)"),
            (self.margin >= 0, "margin must be >= 0"),
            (self.centroid_weight >= 0, "centroid_weight must be >= 0"),
            (self.start_eps is None or self.start_eps > 0, "start_eps must be > 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def robust(self) -> bool:
        return self.mode == "robust"

    # Robust mode needs larger noise anyway (starting at 4/255 saves ~40% of its steps),
    # and its refine phase buys more (40 -> 45 dB median for 8 more steps on 12 samples).
    @property
    def refine_budget(self) -> int:
        """Refine steps actually used: `refine_steps`, or the mode's default."""
        if self.refine_steps is not None:
            return self.refine_steps
        return 10 if self.robust else 2

    @property
    def refine_extra(self) -> int:
        """Auto mode (no explicit `refine_steps`, not robust) may refine this many more
        steps while the best PSNR is below REFINE_FLOOR_DB; explicit counts are exact."""
        return REFINE_EXTRA if self.refine_steps is None and not self.robust else 0

    @property
    def start_box(self) -> float:
        """Initial L-inf box in 1/255 units: `start_eps`, or the mode's default, within eps."""
        return min(self.start_eps or (4.0 if self.robust else 2.0), self.eps)


@dataclass(frozen=True)
class StepRecord:
    """What one step reports; plain Python values so it can cross threads as-is."""

    step: int
    phase: str  # "search" or "refine"
    loss: float
    class_loss: float
    centroid_loss: float
    target_conf: float
    source_conf: float
    top1: int
    linf: float  # 1/255 units, of the 8-bit image
    psnr: float  # dB, of the 8-bit image
    adversarial: bool  # this step's 8-bit image meets the target in the model's own path
    best_psnr: float  # best adversarial PSNR so far (nan before the first)


@dataclass
class AttackResult:
    adversarial: np.ndarray  # (H, W, 3) uint8
    success: bool  # passed the PIL-path criterion
    cancelled: bool
    steps: int
    source: int
    target: int
    target_conf: float  # PIL-path probability of the target
    top1: int  # PIL-path top-1 of the adversarial image
    top1_conf: float
    history: list[StepRecord] = field(default_factory=list)


def classify_pil(model: Classifier, image: Image.Image) -> torch.Tensor:
    """Softmax probabilities of an image through the model's standard PIL preprocessing."""
    with torch.no_grad():
        x = pil_model_input(image, model.spec).to(model.device)
        return model.head(model.features(x)).softmax(1)[0].cpu()


def classify_view(model: Classifier, view: np.ndarray) -> torch.Tensor:
    """Softmax of an 8-bit image that already is the model's input crop (no resize)."""
    x = image_to_tensor(view, model.device)
    with torch.no_grad():
        return model.head(model.features(normalise(x, model.spec))).softmax(1)[0].cpu()


def meets_target(probs: torch.Tensor, target: int, confidence: float) -> bool:
    return int(probs.argmax()) == target and float(probs[target]) >= confidence


REFINE_FLOOR_DB = 46.0  # auto refine: keep going while the best PSNR is below this...
REFINE_EXTRA = 8  # ...for at most this many extra steps

ROBUST_DEFENCES = ("jpeg", "rescale")  # what robust mode optimises for and is judged on


def robust_check(model: Classifier, image: np.ndarray, target: int, confidence: float = 0.0) -> bool:
    """Does the target hold after each of ROBUST_DEFENCES (applied to the model's view)?"""
    view = defences.model_view(image, model.spec)
    for name in ROBUST_DEFENCES:
        probs = classify_view(model, defences.DEFENCES[name](view))
        if not meets_target(probs, target, confidence):
            return False
    return True


class TargetedAttack:
    """`for record in attack.steps(): ...` then `attack.result`; `cancel()` from any thread."""

    def __init__(
        self,
        model: Classifier,
        image: np.ndarray,
        target: int,
        config: AttackConfig | None = None,
        centroids: Centroids | None = None,
    ) -> None:
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError("image must be an (H, W, 3) uint8 array")
        if not 0 <= target < model.num_classes:
            raise ValueError(f"target {target} outside 0..{model.num_classes - 1}")
        self.model = model
        self.image = image
        self.target = target
        self.config = config or AttackConfig()
        # Refuse now (MemoryLimitError) rather than be killed halfway through.
        check_attack_memory(image.shape[1], image.shape[0], self.config.mode, model.device)
        self.centroids = centroids
        self._cancel = threading.Event()
        self.result: AttackResult | None = None
        self._current: torch.Tensor | None = None

    def current_image(self) -> np.ndarray | None:
        """The 8-bit image of the latest step, (H,W,3) uint8; for live previews.

        Call it from the thread iterating `steps()`, between steps.
        """
        if self._current is None:
            return None
        return tensor_to_image(self._current)

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def _views(self, x_adv: torch.Tensor) -> torch.Tensor:
        """Normalised model inputs: the image itself, plus in robust mode the purified
        versions the noise must survive (what `robust_check` judges)."""
        x_in = self.model.preprocess(x_adv)
        if not self.config.robust:
            return x_in
        spec = self.model.spec
        v = denormalise(x_in, spec).clamp(0, 1)
        # The judge purifies the 8-bit crop; round here too (straight-through).
        v = v + (torch.round(v * 255) / 255 - v).detach()
        size = v.shape[-2:]
        half = F.interpolate(v, scale_factor=0.5, mode="bilinear", antialias=True, align_corners=False)
        rescaled = F.interpolate(half, size=size, mode="bilinear", align_corners=False)
        # JPEG has no useful gradient: real JPEG forward, identity backward (BPDA).
        jpeg_v = image_to_tensor(defences.jpeg(tensor_to_image(v), 75), v.device)
        jpegged = v + (jpeg_v - v).detach()
        return normalise(torch.cat([v, rescaled, jpegged]), spec)

    def _losses(self, x_adv: torch.Tensor, target_t: torch.Tensor, centres: torch.Tensor | None):
        feats = self.model.features(self._views(x_adv))
        logits = self.model.head(feats)
        class_loss = F.cross_entropy(logits, target_t.expand(len(logits)))
        if centres is None or self.config.centroid_weight == 0:
            centroid_loss = torch.zeros((), device=logits.device)
        else:
            # Squared distance to the nearest centre, relative to that centre's norm, so the
            # weight means the same across models with different feature scales.
            d2 = ((feats[:, None, :] - centres[None]) ** 2).sum(-1)
            nearest = d2.argmin(1)
            centroid_loss = (d2.gather(1, nearest[:, None]) / (centres[nearest] ** 2).sum(-1, keepdim=True)).mean()
        loss = class_loss + self.config.centroid_weight * centroid_loss
        return logits, loss, class_loss, centroid_loss

    def steps(self) -> Iterator[StepRecord]:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        dev = self.model.device
        x = image_to_tensor(self.image, dev)
        delta = torch.zeros_like(x, requires_grad=True)
        target_t = torch.tensor([self.target], device=dev)
        centres = None
        if self.centroids is not None and cfg.centroid_weight > 0:
            centres = self.centroids.for_class(self.target).to(dev)

        source = -1  # the clean top-1: step 1 evaluates the clean image (delta = 0)
        eps_cap = cfg.eps / 255
        box = cfg.start_box / 255
        l2_radius: float | None = None
        margin = cfg.margin
        candidates: list[tuple[float, np.ndarray]] = []  # (mse, uint8 image), best first
        best_psnr = math.nan
        history: list[StepRecord] = []
        first_success: int | None = None
        step = 0
        passed: tuple[np.ndarray, torch.Tensor] | None = None

        while step < cfg.max_steps and not self._cancel.is_set():
            step += 1
            x_adv = (x + delta).clamp(0, 1)
            # Straight-through rounding: the forward pass sees the 8-bit image.
            x_q = x_adv + (torch.round(x_adv * 255) / 255 - x_adv).detach()
            logits, loss, class_loss, centroid_loss = self._losses(x_q, target_t, centres)
            all_probs = logits.detach().softmax(1)
            probs = all_probs[0]
            if step == 1:
                source = int(probs.argmax())
            z = logits.detach()
            others = torch.cat([z[:, : self.target], z[:, self.target + 1 :]], 1).amax(1)
            # Every view (just the image, or also its purified versions) must hold.
            adversarial = bool(((z[:, self.target] - others) >= margin).all()) and float(
                all_probs[:, self.target].min()) >= cfg.confidence
            with torch.no_grad():
                diff255 = torch.round((x_q.detach() - x) * 255)
                mse = float(diff255.pow(2).mean())
                linf = float(diff255.abs().max())
            if adversarial:
                if first_success is None:
                    first_success = step
                q8 = tensor_to_image(x_q)
                candidates.append((mse, q8))
                candidates.sort(key=lambda c: c[0])
                del candidates[5:]
                best_psnr = psnr_from_mse(candidates[0][0])
            record = StepRecord(
                step=step,
                phase="search" if first_success is None or step == first_success else "refine",
                loss=float(loss.detach()),
                class_loss=float(class_loss.detach()),
                centroid_loss=float(centroid_loss.detach()),
                target_conf=float(probs[self.target]),
                source_conf=float(probs[source]),
                top1=int(probs.argmax()),
                linf=linf,
                psnr=psnr_from_mse(mse),
                adversarial=adversarial,
                best_psnr=best_psnr,
            )
            history.append(record)
            self._current = x_q.detach()
            yield record

            if first_success is not None and self._refine_done(step - first_success, best_psnr):
                passed = self._first_passing(candidates)
                if passed is not None:
                    break
                # The PIL path disagreed with every candidate (resampling differences at
                # a razor-thin margin): demand a wider margin and keep optimising.
                margin = margin * 2 + 0.5
                first_success, candidates, l2_radius = None, [], None

            grad, = torch.autograd.grad(loss, delta)
            with torch.no_grad():
                if first_success is None:
                    delta -= (box / 3) * grad / (grad.pow(2).mean().sqrt() + 1e-12)
                    delta.clamp_(-box, box)
                    if step % 4 == 0:
                        box = min(eps_cap, box * 1.4)
                else:
                    if l2_radius is None:
                        l2_radius = float(delta.norm())
                    l2_radius *= 0.8 if adversarial else 1.05
                    delta -= 0.2 * l2_radius * grad / (grad.norm() + 1e-12)
                    norm = float(delta.norm())
                    if norm > l2_radius:
                        delta *= l2_radius / norm
                    delta.clamp_(-eps_cap, eps_cap)
                # Keep x + delta inside [0, 1] so clamping does not hide part of delta.
                torch.maximum(delta, -x, out=delta)
                torch.minimum(delta, 1 - x, out=delta)

        if source < 0:  # cancelled before the first step
            with torch.no_grad():
                source = int(self.model.logits(x).argmax())
        if passed is None and candidates and not self._cancel.is_set():
            passed = self._first_passing(candidates)
        if passed is not None:
            adv, judge = passed
        else:
            # No success: return the last iterate so the user can see how far it got.
            with torch.no_grad():
                last = (x + delta).clamp(0, 1)
            adv = tensor_to_image(last)
            judge = classify_pil(self.model, Image.fromarray(adv))
        self.result = AttackResult(
            adversarial=adv,
            success=passed is not None,
            cancelled=self._cancel.is_set(),
            steps=step,
            source=source,
            target=self.target,
            target_conf=float(judge[self.target]),
            top1=int(judge.argmax()),
            top1_conf=float(judge.max()),
            history=history,
        )

    def _refine_done(self, refined: int, best_psnr: float) -> bool:
        """Stop refining after the budget, or up to `refine_extra` steps later while the best
        result is still below REFINE_FLOOR_DB: the few hard images get the time and the
        easy ones finish fast."""
        cfg = self.config
        if refined < cfg.refine_budget:
            return False
        return best_psnr >= REFINE_FLOOR_DB or refined >= cfg.refine_budget + cfg.refine_extra

    def _first_passing(self, candidates: list[tuple[float, np.ndarray]]) -> tuple[np.ndarray, torch.Tensor] | None:
        """The smallest candidate that the PIL-path criterion accepts, with its probabilities."""
        for _, image in candidates:
            probs = classify_pil(self.model, Image.fromarray(image))
            if meets_target(probs, self.target, self.config.confidence) and (
                not self.config.robust or robust_check(self.model, image, self.target, self.config.confidence)
            ):
                return image, probs
        return None
