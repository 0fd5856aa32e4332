"""Transfer mode: targeted noise crafted on surrogate models, meant to fool models it never saw.

The white-box modes stop at the smallest noise that flips one model; such noise is
specific to that model's weights and fools nothing else. Transfer needs the opposite:
noise that makes the *target class's evidence* appear, in a way several models agree on.
The loop is the known recipe for targeted transfer (each part switchable in TransferConfig):

- logit loss: maximise the target's logit, not its softmax probability. Cross-entropy
  saturates once the surrogate is convinced; the logit keeps pushing (Zhao et al. 2021);
- an ensemble of surrogates, losses averaged (default: EfficientNet-Lite0 and Lite1);
- momentum on L1-normalised gradients and sign steps (MI-FGSM, Dong et al. 2018);
- input diversity: with probability p the model sees a randomly resized and padded copy
  (DI, Xie et al. 2019), so the noise cannot rely on exact pixel positions;
- translation invariance: the gradient is smoothed by a Gaussian (TI, Dong et al. 2019);
- several hundred iterations: targeted transfer keeps improving long after the
  surrogates are fooled (Zhao et al. 2021);
- the centroid term, our own (centroid_terms.py): the pooled statistics of intermediate
  layers must win a nearest-centre vote for the target among every class's centres. On by
  default: it took Lite2 from 86% to 93% at 16/255 and from 56% to 64% at 8/255
  (docs/BENCHMARKS.md). Pulling toward one centre and centroid mixup are kept as switches.

Then an optional shrink phase scales the noise down while every surrogate still sees the
target with a safety margin, trading transfer for invisibility (docs/BENCHMARKS.md).
The perturbation lives at the image's original resolution, as in the white-box modes,
and every surrogate sees it through its own differentiable preprocessing. The iterations
are driven by transfer_lockstep.py (one image, or several in step with the surrogates'
passes batched); this class holds one image's pieces: its inputs, loss and step. Judge models
are never touched here: the pipeline asks them afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..centroids import Centroids
from ..crafter_labels import CrafterLabels
from ..criteria import TargetedTop1
from ..device import autocast_dtype
from ..metrics import psnr_from_mse
from ..models import Classifier, load_model
from ..predict import classify_pil
from ..preprocess import image_to_tensor, normalise, tensor_to_image
from .base import AttackLoop, AttackResult, StepRecord, check_image_and_target
from .centroid_terms import CentroidTerm, centroid_term, centroid_terms_for, mix_plan
from .noise_budget import LinfBudget, NoiseBudget, PerceptualBudget
from .transfer_config import TransferConfig
from .transfer_lockstep import SurrogateInput, SurrogateOutput, forward_surrogates, lockstep
from .transfer_ops import diverse_input, shrink_noise, smooth_gradient, target_margin
from .transfer_views import surrogate_view

# Iterations between checks of the 8-bit image on every surrogate (float32, no diversity):
# for the live view only (the result is judged at the end). Each check is two full forward
# passes at the photo's size; every 10 iterations they took 4 of ~80 ms per step.
EVAL_EVERY = 25


def ssim_note(original: np.ndarray, adversarial: np.ndarray, config: TransferConfig) -> str | None:
    """A note when the result's SSIM fell below the perceptual budget's floor: the budget
    predicts SSIM before the run from a stand-in of the noise (median error 0.001 on 24
    photos), and the attack's own noise can cost a little more (issue 34 item 4: 0.9502
    beside Min SSIM 0.955, said nowhere)."""
    if config.budget != "perceptual":
        return None
    from ..metrics import ssim

    value = ssim(original, adversarial)
    if value >= config.min_ssim:
        return None
    # Named for every front-end (walked: the CLI's note quoted the window's "Min SSIM").
    return (f"SSIM {value:.4f} is below the minimum SSIM {config.min_ssim:g}: the budget predicts SSIM before "
            "the run, and this photo's noise cost a little more (a higher budget PSNR keeps it above: "
            "--budget-psnr, or Budget PSNR in the window)")


def load_surrogates(config: TransferConfig, device: str | torch.device | None = None) -> list[Classifier]:
    """The surrogate models of `config`, loaded (or reused from the model cache): each needs
    a differentiable path. Their label lists may differ: the target is matched by name in
    each (crafter_labels.py), and the first surrogate's list is the one targets name."""
    models = [load_model(name, device) for name in config.surrogates]
    for m in models:
        m.require_gradients("the transfer mode")
    return models

@dataclass(frozen=True)
class _LossProgress:
    """What the surrogates saw in one iteration's (diverse) inputs, averaged: for the live view."""

    target_conf: float
    source_conf: float
    top1: int  # the most common top-1 among the surrogates


@dataclass
class _ImageState:
    """One image's running state in the transfer loop."""

    x: torch.Tensor  # the clean image, (1, 3, H, W) in [0, 1]
    source: int  # the clean image's class in the first surrogate's list
    sources: list[int]  # ... and in each surrogate's own list
    terms: Any  # the centroid term's per-surrogate losses, or None
    ti_size: int
    budget: NoiseBudget
    z: torch.Tensor  # the noise's free variable (requires grad)
    momentum: torch.Tensor
    gen: torch.Generator  # every random draw of this image's views
    adversarial: bool = False
    steps: int = 0


class TransferAttack(AttackLoop):
    """The transfer loop on an ensemble of surrogate models."""

    def __init__(
        self,
        surrogates: list[Classifier],
        image: np.ndarray,
        target: int,
        config: TransferConfig | None = None,
        centroids: dict[str, Centroids] | None = None,
        source: int | None = None,
    ) -> None:
        """`source`: the clean image's class, when the caller knows it (else classified here)."""
        super().__init__()
        if not surrogates:
            raise ValueError("give at least one surrogate model")
        check_image_and_target(image, target, surrogates[0].num_classes)
        self.surrogates = surrogates
        self.image = image
        self.target = target  # in the first surrogate's label list
        self.labels = CrafterLabels(surrogates)
        self.targets = self.labels.targets(target)  # in each surrogate's own list
        # The surrogates' shares of the loss (None: equal); the query mode's search sets them.
        self.weights: list[float] | None = None
        # A class to push down as well, in each surrogate's own list (None where it lacks
        # it): the query mode's search names the victim's own top class here, the class
        # that beats the target there, which the surrogates know nothing about otherwise.
        self.avoid: list[int | None] | None = None
        self.source = source
        self.config = config or TransferConfig()
        self.centroids = centroids if self.config.uses_centroids else None
        self._notes: list[str] = []  # for the report: what the budget chose for this photo
        # The surrogates' forward passes (and so their backward) in bfloat16 where that is
        # fast; the noise, the budget and every check of the 8-bit result stay float32.
        self._autocast = autocast_dtype(self.config.precision, surrogates[0].device)
        if self.config.uses_centroids and centroids is None:
            raise ValueError("the config uses centroids: pass them (surrogate_centroids)")

    # -- pieces ----------------------------------------------------------------------------
    def _ti_size(self, height: int, width: int) -> int:
        """TI kernel at the image's resolution: the configured size is in model-input pixels."""
        k = self.config.ti_kernel
        if k <= 1:
            return 1
        resize = sum(m.spec.resize for m in self.surrogates) / len(self.surrogates)
        size = max(1, round(k * min(height, width) / resize))
        return size if size % 2 else size + 1

    def _budget(self, x: torch.Tensor, ti_size: int) -> NoiseBudget:
        cfg = self.config
        if cfg.budget == "linf":
            return LinfBudget(x, cfg.eps, cfg.alpha)
        return PerceptualBudget(self.image, x, psnr=cfg.budget_psnr, min_ssim=cfg.min_ssim, cap=cfg.eps,
                                ti_size=ti_size)

    def _centroid_terms(self, x: torch.Tensor, source: int, sources: list[int]) -> list[dict[str, CentroidTerm]]:
        """Per surrogate and layer, the loss the centroid term puts on that layer's statistics
        (built once, before the first iteration, so a file lacking a class fails up front)."""
        assert self.centroids is not None
        cfg = self.config
        return centroid_terms_for(self.surrogates, self.centroids, cfg.centroid_objective, cfg.centroid_layers, x,
                                  self.targets, sources if source != self.target else None)

    def _inputs(self, x_adv: torch.Tensor, gen: torch.Generator, sources: list[int]) -> list[SurrogateInput]:
        """This iteration's input of every surrogate: its view of the noisy image (whole
        photo, random crop, zoom or centre crop), input diversity, and centroid mixup;
        every random draw from this image's own generator, in a fixed order."""
        cfg = self.config
        inputs = []
        for m, target, source in zip(self.surrogates, self.targets, sources, strict=True):
            view = surrogate_view(x_adv, m, cfg.p_full, cfg.p_rrc, cfg.rrc_min_area, cfg.zoom_max, gen)
            inp = normalise(diverse_input(view, cfg.diversity, gen, cfg.di_scale), m.spec)
            if m.fixed_input and inp.shape[-1] != m.spec.crop:  # a network that takes one size only
                inp = F.interpolate(inp, size=(m.spec.crop, m.spec.crop), mode="bilinear", align_corners=False)
            plan = (mix_plan(self.centroids[m.name], m.device, target, source, gen, cfg.centroid_mix,
                             cfg.centroid_mix_layers, cfg.centroid_mix_alpha)
                    if cfg.centroid_mix > 0 and self.centroids is not None else None)
            inputs.append(SurrogateInput(inp, plan))
        return inputs

    def _taps_wanted(self, terms) -> tuple[str, ...]:
        return self.config.centroid_layers if terms is not None else ()

    def _loss_of(self, outputs: list[SurrogateOutput], terms, sources: list[int] | None = None):
        """Mean over surrogates of the class loss (+ weighted centroid loss) of their outputs;
        `sources`: the clean image's class in each surrogate's list (for the live view)."""
        cfg = self.config
        class_total = torch.zeros((), device=outputs[0].logits.device)
        centroid_total = torch.zeros((), device=outputs[0].logits.device)
        confs, source_confs, tops = [], [], []
        for i, out in enumerate(outputs):
            logits, target = out.logits, self.targets[i]
            if terms is not None:
                centroid_total = centroid_total + centroid_term(out.taps, terms[i])
            class_total = class_total + self._class_loss(i, logits, target)
            probs = logits.detach().softmax(1)[0]
            confs.append(float(probs[target]))
            source_confs.append(float(probs[sources[i]]) if sources is not None else math.nan)
            tops.append(self.labels.top1_in_first(i, probs))
        n = len(outputs)
        class_loss, centroid_loss = class_total / n, centroid_total / n
        if self.weights is not None:  # a weighted mean instead (weights sum to 1)
            class_loss, centroid_loss = self._weighted(outputs, terms)
        progress = _LossProgress(sum(confs) / n, sum(source_confs) / n, max(set(tops), key=tops.count))
        return class_loss + cfg.centroid_weight * centroid_loss, class_loss, centroid_loss, progress

    def _class_loss(self, i: int, logits: torch.Tensor, target: int) -> torch.Tensor:
        """Surrogate i's class loss: the target's logit (or cross-entropy) raised, and the
        class to avoid, when one is set, pushed down (a margin between the two)."""
        if self.config.loss == "logit":
            loss = -logits[0, target]
        else:
            loss = F.cross_entropy(logits, torch.tensor([target], device=logits.device))
        avoid = self.avoid[i] if self.avoid is not None else None
        if avoid is not None and avoid != target:
            loss = loss + logits[0, avoid]
        return loss

    def _weighted(self, outputs: list[SurrogateOutput], terms) -> tuple[torch.Tensor, torch.Tensor]:
        """The class and centroid losses as means weighted by `self.weights`."""
        assert self.weights is not None
        class_loss = torch.zeros((), device=outputs[0].logits.device)
        centroid_loss = torch.zeros((), device=outputs[0].logits.device)
        for i, (out, w) in enumerate(zip(outputs, self.weights, strict=True)):
            class_loss = class_loss + w * self._class_loss(i, out.logits, self.targets[i])
            if terms is not None:
                centroid_loss = centroid_loss + w * centroid_term(out.taps, terms[i])
        return class_loss, centroid_loss

    def iterate(self, state: _ImageState, step: int) -> StepRecord:
        """One iteration on this image alone (the query mode drives its own loop with it)."""
        grad, parts = self.gradient(state)
        return self._advance(state, step, grad, parts)

    def gradient(self, state: _ImageState):
        """The loss's gradient with respect to the noise's free variable, on one fresh random
        view per surrogate (drawn from the image's generator), and the loss's parts."""
        parts = self._loss(state.budget.adversarial(state.x, state.z), state.gen, state.terms, state.sources)
        (grad,) = torch.autograd.grad(parts[0], [state.z])
        return grad, parts

    def _loss(self, x_adv: torch.Tensor, gen: torch.Generator, terms, sources: list[int] | None = None):
        """The loss of one iteration on this image alone (the lockstep loop batches images;
        the query mode's steps and the tests use this)."""
        inputs = self._inputs(x_adv, gen, sources if sources is not None else [-1] * len(self.surrogates))
        outputs = [forward_surrogates(m, [inp], self._taps_wanted(terms), self._autocast)[0]
                   for m, inp in zip(self.surrogates, inputs, strict=True)]
        return self._loss_of(outputs, terms, sources)

    def _margins(self, image01: torch.Tensor) -> torch.Tensor:
        """Target margin of the (rounded) image on every surrogate, no diversity."""
        with torch.no_grad():
            return torch.cat([target_margin(m.logits(image01), t)
                              for m, t in zip(self.surrogates, self.targets, strict=True)])

    def _probs(self, image01: torch.Tensor) -> list[torch.Tensor]:
        """Each surrogate's probabilities over its own labels."""
        with torch.no_grad():
            return [m.logits(image01).softmax(1)[0] for m in self.surrogates]

    # -- the loop (transfer_lockstep.py runs it for one image or several in step) ------------
    def steps(self) -> Iterator[StepRecord]:
        for _, record in lockstep([self]):
            yield record

    def _begin(self) -> _ImageState:
        """Everything the loop keeps for this image, before the first iteration."""
        cfg = self.config
        torch.manual_seed(cfg.seed)
        x = image_to_tensor(self.image, self.surrogates[0].device)
        clean = self._probs(x)
        source = self.source if self.source is not None else int(self.labels.mean_probs(clean).argmax())
        sources = self.labels.sources(source, clean)
        terms = self._centroid_terms(x, source, sources) if cfg.centroid_weight > 0 else None
        ti_size = self._ti_size(*x.shape[-2:])
        budget = self._budget(x, ti_size)
        self._notes = [budget.note] if budget.note else []
        z = budget.zeros()
        return _ImageState(x=x, source=source, sources=sources, terms=terms, ti_size=ti_size, budget=budget, z=z,
                           momentum=torch.zeros_like(z), gen=torch.Generator().manual_seed(cfg.seed))

    def _advance(self, state: _ImageState, step: int, grad: torch.Tensor, loss_parts) -> StepRecord:
        """Take one step with this iteration's gradient; the step's record."""
        cfg = self.config
        loss, class_loss, centroid_loss, seen = loss_parts
        with torch.no_grad():
            grad = smooth_gradient(grad, state.ti_size)
            if cfg.momentum > 0:
                state.momentum = cfg.momentum * state.momentum + grad / (grad.abs().mean() + 1e-12)
            else:
                state.momentum = grad
            state.budget.step(state.z, state.momentum, state.x)
            q = torch.round((state.x + state.budget.rgb(state.z)).clamp(0, 1) * 255) / 255
            self._current = q
            diff255 = torch.round((q - state.x) * 255)
            mse = float(diff255.pow(2).mean())
            if step % EVAL_EVERY == 0 or step == cfg.iterations:
                state.adversarial = bool((self._margins(q) > 0).all())
        state.steps = step
        return StepRecord(
            step=step, phase="transfer", loss=float(loss.detach()), class_loss=float(class_loss.detach()),
            centroid_loss=float(centroid_loss.detach()), target_conf=seen.target_conf,
            source_conf=seen.source_conf, top1=seen.top1,
            linf=float(diff255.abs().max()), psnr=psnr_from_mse(mse), adversarial=state.adversarial,
            best_psnr=psnr_from_mse(mse) if state.adversarial else math.nan,
        )

    def _end(self, state: _ImageState) -> Iterator[StepRecord]:
        """The optional shrink phase, then the result."""
        step = state.steps
        delta = self._budget_rgb(state)
        final = (state.x + delta).clamp(0, 1)
        if self.config.shrink_margin is not None and not self._cancel.is_set() and step > 0:
            final = yield from self._shrink(state.x, delta, step)
        self._finish(tensor_to_image(final), state.source, step)

    @staticmethod
    def _budget_rgb(state: _ImageState) -> torch.Tensor:
        with torch.no_grad():
            return state.budget.rgb(state.z.detach())

    def _shrink(self, x: torch.Tensor, delta: torch.Tensor, step: int):
        """Yield one record per bisection probe of `shrink_noise`; return the kept image."""
        best = None
        assert self.config.shrink_margin is not None
        for probe, (q, ok, margins, kept) in enumerate(
            shrink_noise(self.surrogates, x, delta, self.targets, self.config.shrink_margin, self._cancel), 1
        ):
            best = kept
            diff255 = torch.round((q - x) * 255)
            self._current = q
            yield StepRecord(
                step=step + probe, phase="shrink", loss=float(-margins.min()), class_loss=float(-margins.min()),
                centroid_loss=0.0, target_conf=math.nan, source_conf=math.nan, top1=self.target if ok else -1,
                linf=float(diff255.abs().max()), psnr=psnr_from_mse(float(diff255.pow(2).mean())), adversarial=ok,
                best_psnr=psnr_from_mse(float(torch.round((kept - x) * 255).pow(2).mean())),
            )
        return best if best is not None else torch.round((x + delta).clamp(0, 1) * 255) / 255

    def _finish(self, adv: np.ndarray, source: int, steps: int) -> None:
        """Judge the 8-bit result through every surrogate's standard PIL preprocessing."""
        probs = [classify_pil(m, Image.fromarray(adv)) for m in self.surrogates]
        success = all(TargetedTop1(t).met(p) for t, p in zip(self.targets, probs, strict=True))
        below = ssim_note(self.image, adv, self.config)
        if below:
            self._notes.append(below)
        mean = self.labels.mean_probs(probs)
        seen_by = [{"model": m.name, "top1_name": m.labels[int(p.argmax())].name, "confidence": float(p.max()),
                    "target_conf": float(p[t])} for m, p, t in zip(self.surrogates, probs, self.targets, strict=True)]
        self.result = AttackResult(
            adversarial=adv,
            success=success and not self._cancel.is_set(),
            cancelled=self._cancel.is_set(),
            steps=steps,
            source=source,
            target=self.target,
            target_conf=float(mean[self.target]),
            top1=int(mean.argmax()),
            top1_conf=float(mean.max()),
            notes=list(self._notes),
            seen_by=seen_by,
        )
