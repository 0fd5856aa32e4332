"""The white-box targeted attack: the smallest noise that makes one model see the target.

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

The loop may be asked to survive defences (`config.defences_to_survive()`, the robust
mode): every step then also sees the image purified by one random setting of each
defence (expectation over transformations), through its differentiable stand-in, both
where a defender applies it to the file and to the model's 224-px view
(`config.survival_levels()`); all views must hold, and a result counts only if the real
defences agree at every checked setting and level (`survives`).

8-bit rounding is inside the loop (straight-through gradient), so every logit we look at
is the logit of an image that can actually be saved. A candidate counts only once the
separate criterion — the standard PIL preprocessing of that 8-bit image — agrees.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..centroids import Centroids
from ..criteria import TargetedTop1
from ..defences.eot import clamp01, purified_views, round8
from ..defences.survival import SurvivalCheck
from ..device import autocast_dtype
from ..errors import Cancelled
from ..imageio import is_grey
from ..metrics import psnr_from_mse
from ..models import Classifier
from ..perceptual_budget import equal_ssim_shape
from ..predict import classify_pil
from ..preprocess import denormalise, image_to_tensor, normalise, tensor_to_image
from .base import AttackLoop, AttackResult, StepRecord, check_image_and_target
from .whitebox_config import AttackConfig

REFINE_FLOOR_DB = 46.0  # auto refine: keep going while the best PSNR is below this...


def survived_text(defences, levels: tuple[str, ...]) -> str:
    """What a robust result was checked against, every setting named: 'survives rescale,
    jpeg quality 50/75/90, bitdepth bits 3/4/5, median size 3/5, each on the whole file and
    on the model's view' (issue 33 item 11: the report did not say what it survived)."""
    parts = []
    for d in defences:
        settings = " ".join(f"{k} {'/'.join(f'{v:g}' for v in values)}" for k, values in d.checks.items())
        own = [level for level in levels if level in d.levels]
        only = f" ({', '.join(own)} only)" if own != list(levels) else ""  # DIP: the view only
        parts.append(f"{d.name} {settings}".strip() + only)
    where = {"file": "the whole file", "view": "the model's view"}
    return (f"survives {', '.join(parts)}, each on " + " and on ".join(where.get(level, level) for level in levels)
            + " (every setting checked on the saved image)")


class TargetedAttack(AttackLoop):
    """The white-box loop on one model."""

    def __init__(
        self,
        model: Classifier,
        image: np.ndarray,
        target: int,
        config: AttackConfig | None = None,
        centroids: Centroids | None = None,
    ) -> None:
        super().__init__()
        check_image_and_target(image, target, model.num_classes)
        self.model = model
        self.image = image
        self.target = target
        self.config = config or AttackConfig()
        # What "reached" means for a candidate: the target as top-1 with the asked confidence
        # (the robust mode's SurvivalCheck adds: and after every checked purifier).
        self.criterion = TargetedTop1(target, self.config.confidence)
        self.centroids = centroids
        # The slow defences' real operation last: a candidate fails on a cheap one first.
        self.defences = tuple(sorted(self.config.defences_to_survive(), key=lambda d: d.slow))
        self.levels = self.config.survival_levels()
        self._check = SurvivalCheck(model, target, self.defences, self.levels, self.config.confidence,
                                    cancel=self._cancel) if self.defences else None
        self._eot = np.random.default_rng(self.config.seed)  # the defences' random settings
        # The gradient passes in bfloat16 where the config asks (robust: where it is native);
        # every verdict on a candidate stays float32 (the PIL criterion, the real defences).
        self._autocast = autocast_dtype(self.config.gradient_precision, model.device)

    def _views(self, x_adv: torch.Tensor) -> torch.Tensor:
        """Normalised model inputs: the image itself, plus its purified versions that must
        also hold: per defence one random setting (EOT), applied to the 8-bit file at its
        own size and then preprocessed, and to the 8-bit model view (per `levels`)."""
        x_in = self.model.preprocess(x_adv)
        if not self.defences:
            return x_in
        spec = self.model.spec
        v = round8(clamp01(denormalise(x_in, spec)))  # a defender purifies the 8-bit crop
        anchors = None
        if self._check is not None:
            if self._check.slow and not self._check.anchors.pairs:
                self._check.anchor_clean(self.image)  # DIP of the clean view: once, in the first step
            anchors = self._check.anchors
        views = purified_views(x_adv, v, spec, self.defences, self.levels, self._eot, anchors)
        return normalise(torch.cat([v, *views]), spec)

    def _losses(self, x_adv: torch.Tensor, target_t: torch.Tensor, centres: torch.Tensor | None):
        views = self._views(x_adv)
        # A cancel stops a step between its passes: the preprocessing of a large image
        # (resizing a 60000x32 strip to the model's scale, forward and backward) is most of
        # a step, and the worker was held that long after a cancel (issue 33 item 3).
        self._stop_if_cancelled()
        if views.requires_grad:
            views.register_hook(lambda _grad: self._stop_if_cancelled())  # before the preprocessing's backward
        with torch.autocast(views.device.type, dtype=self._autocast or torch.float32,
                            enabled=self._autocast is not None):
            feats = self.model.features(views)
            logits = self.model.head(feats)
        feats, logits = feats.float(), logits.float()
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

    def _stop_if_cancelled(self) -> None:
        if self._cancel.is_set():
            raise Cancelled("attack cancelled")

    def steps(self) -> Iterator[StepRecord]:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        dev = self.model.device
        x = image_to_tensor(self.image, dev)
        # The variable optimised: the RGB change itself, or (perceptual budget) a luma change
        # per pixel, in units of that pixel's texture weight.
        shape = equal_ssim_shape(self.image).to(dev) if cfg.budget == "perceptual" else None
        # A grey photo gets grey noise: one change added equally to R, G and B, since colour
        # speckle on a black-and-white picture is the easiest noise to see (and its file is
        # saved grey again: saved_result.save_result).
        grey = shape is None and is_grey(self.image)
        noise = torch.zeros_like(x[:, :1] if grey else x if shape is None else shape, requires_grad=True)

        def delta_of(n: torch.Tensor) -> torch.Tensor:
            if shape is None:
                return n.expand(-1, 3, -1, -1) if grey else n
            return (shape * n).expand(-1, 3, -1, -1)

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
            delta = delta_of(noise)
            x_adv = clamp01(x + delta)  # (the projection below keeps x + delta in [0, 1] anyway)
            # Straight-through rounding: the forward pass sees the 8-bit image.
            x_q = x_adv + (torch.round(x_adv * 255) / 255 - x_adv).detach()
            try:
                logits, loss, class_loss, centroid_loss = self._losses(x_q, target_t, centres)
            except Cancelled:
                break
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
            if self._cancel.is_set():
                # Not the gradient of a step that will never be taken: on a 60000x32 strip
                # the backward pass is two thirds of a step (~8 s here; issue 33 item 3).
                break

            if first_success is not None and self._refine_done(step - first_success, best_psnr):
                passed = self._first_passing(candidates)
                if passed is not None or (self._check is not None and self._check.exhausted):
                    break
                # The PIL path disagreed with every candidate (resampling differences at
                # a razor-thin margin): demand a wider margin and keep optimising.
                margin = margin * 2 + 0.5
                first_success, candidates, l2_radius = None, [], None

            try:
                grad, = torch.autograd.grad(loss, noise)
            except Cancelled:  # raised by the hook in _losses, mid-backward
                break
            with torch.no_grad():
                if first_success is None:
                    noise -= (box / 3) * grad / (grad.pow(2).mean().sqrt() + 1e-12)
                    noise.clamp_(-box, box)
                    if step % 4 == 0:
                        box = min(eps_cap, box * 1.4)
                else:
                    if l2_radius is None:
                        l2_radius = float(noise.norm())
                    l2_radius *= 0.8 if adversarial else 1.05
                    noise -= 0.2 * l2_radius * grad / (grad.norm() + 1e-12)
                    norm = float(noise.norm())
                    if norm > l2_radius:
                        noise *= l2_radius / norm
                    noise.clamp_(-eps_cap, eps_cap)
                if shape is None:
                    # Keep x + delta inside [0, 1] so clamping does not hide part of delta.
                    level = x[:, :1] if grey else x  # (a grey photo's channels are equal)
                    torch.maximum(noise, -level, out=noise)
                    torch.minimum(noise, 1 - level, out=noise)
                else:
                    # The same for a luma change (every channel inside [0, 1]), and no pixel
                    # beyond eps however textured.
                    low = torch.maximum((-x).amax(1, keepdim=True), torch.full_like(shape, -eps_cap)) / shape
                    high = torch.minimum((1 - x).amin(1, keepdim=True), torch.full_like(shape, eps_cap)) / shape
                    torch.maximum(noise, low, out=noise)
                    torch.minimum(noise, high, out=noise)

        if source < 0:  # cancelled before the first step
            with torch.no_grad():
                source = int(self.model.logits(x).argmax())
        gave_up = self._check is not None and self._check.exhausted
        if passed is None and candidates and not self._cancel.is_set() and not gave_up:
            passed = self._first_passing(candidates)
        if passed is not None:
            adv, judge = passed
        elif self._cancel.is_set() and self._current is not None:
            # Cancelled: the last step's 8-bit image with the probabilities that step saw,
            # not a PIL-path classification that costs seconds on a large image.
            adv, judge = tensor_to_image(self._current), all_probs[0]
        elif self._check is not None and self._check.fallback is not None:
            # Out of slow checks: the smallest result that survived every cheap purifier.
            adv = self._check.fallback
            judge = classify_pil(self.model, Image.fromarray(adv))
        else:
            # No success: return the last iterate so the user can see how far it got.
            with torch.no_grad():
                last = (x + delta_of(noise)).clamp(0, 1)
            adv = tensor_to_image(last)
            judge = classify_pil(self.model, Image.fromarray(adv))
        notes = []
        if self.defences and passed is not None:
            notes.append(survived_text(self.defences, self.levels))
        elif self.defences and self._check is not None and self._check.fallback is not None and adv is \
                self._check.fallback:
            cheap = [d for d in self.defences if not d.slow]
            notes.append(survived_text(cheap, self.levels) + "; not checked against "
                         + ", ".join(d.name for d in self.defences if d.slow) + " (out of slow checks)")
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
            notes=notes,
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
        """The smallest candidate that the PIL-path criterion (and every real defence to
        survive) accepts, with its probabilities."""
        if self._check is not None:
            self._check.new_round()
        for _, image in candidates:
            probs = classify_pil(self.model, Image.fromarray(image))
            if self.criterion.met(probs) and (self._check is None or self._check(image)):
                return image, probs
            if self._check is not None and self._check.round_over:
                break  # a slow purifier removed the target: widen the margin rather than try the rest
        return None
