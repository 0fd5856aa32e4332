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
- the centroid term, our own: the pooled statistics of intermediate layers must win a
  nearest-centre vote for the target among every class's centres (shipped in
  `centroids/`, built by `guiapp-cli centroids build`), so the image carries what sets
  the class apart at mid depth, not only what one head reads. On by default: it took
  Lite2 from 86% to 93% at 16/255 and from 56% to 64% at 8/255 (docs/BENCHMARKS.md).
  Pulling toward one centre ("pull", "contrast") and centroid mixup are kept as
  switches; they did not help.

Then an optional shrink phase scales the noise down while every surrogate still sees the
target with a safety margin, trading transfer for invisibility (docs/BENCHMARKS.md).
The perturbation lives at the image's original resolution, as in the white-box modes,
and every surrogate sees it through its own differentiable preprocessing. The judge
model(s) are never touched here: `attack_file(..., judges=...)` asks them afterwards.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .attack import AttackResult, StepRecord, classify_pil
from .centroids import Centroids, default_centroid_path, load_centroids
from .errors import CentroidError
from .memory import check_attack_memory
from .metrics import psnr_from_mse
from .models import Classifier, load_model
from .preprocess import image_to_tensor, normalise, tensor_to_image, to_model_crop

TRANSFER_LOSSES = ("logit", "ce")
CENTROID_OBJECTIVES = ("pull", "contrast", "classify")
# "classify": cosine similarities (in [-1, 1]) times this are the prototype head's logits.
# 20 keeps its softmax from saturating before the image is near the target's centres.
PROTOTYPE_SCALE = 20.0
DEFAULT_SURROGATES = ("efficientnet-lite0", "efficientnet-lite1")
TI_SIGMAS = 3.0  # the Gaussian kernel spans +-3 sigma, as in Dong et al.
EVAL_EVERY = 10  # iterations between checks of the clean 8-bit image on every surrogate
SHRINK_PROBES = 7  # bisection steps of the shrink phase (scale known to within 1%)


@dataclass(frozen=True, kw_only=True)
class TransferConfig:
    """Settings of one transfer attack (all switches of the known transfer machinery)."""

    eps: float = 16.0  # L-inf budget, 1/255 units
    # Gradient iterations on the surrogate ensemble. 100: bench/transfer.py at 16/255 fooled
    # Lite2 on 89% of 100 pairs after 50, 93% after 100 (15 s/image on 2 cores).
    iterations: int = 100
    surrogates: tuple[str, ...] = DEFAULT_SURROGATES  # model names; the judge is never among them
    loss: str = "logit"  # "logit": minus the target logit (Zhao et al. 2021); "ce": cross-entropy
    step_size: float | None = None  # 1/255 units per iteration; None: eps / 8
    momentum: float = 1.0  # MI-FGSM decay factor; 0 disables momentum
    diversity: float = 0.7  # DI: probability of a random resize-and-pad per iteration; 0 disables
    di_scale: float = 1.1  # DI: resize to [s, di_scale*s) and pad to di_scale*s (Xie et al.: 1.1)
    ti_kernel: int = 5  # TI: Gaussian gradient smoothing kernel (model-input pixels); 0 or 1 disables
    # The centroid term: weight, layers, objective. Default: the "classify" head on stages 5
    # and 6 at weight 0.5 (bench/transfer.py, 100 pairs: Lite2 93% vs 86% without it at
    # 16/255, 64% vs 56% at 8/255, ahead at every checkpoint; docs/BENCHMARKS.md).
    centroid_weight: float = 0.5
    centroid_layers: tuple[str, ...] = ("stage5", "stage6")  # layers the centroid term acts on
    # What the term asks of the tapped layers' pooled statistics: "pull" toward the target's
    # nearest centre; "contrast" closer to it than to the source class's nearest centre;
    # "classify" win a nearest-centre vote over every class in the file (FDA-style: a
    # class-probability head per intermediate layer, here made of the centres).
    centroid_objective: str = "classify"
    # Centroid mixup: with this probability per layer and iteration, move the surrogate's
    # channel statistics up to `centroid_mix_alpha` of the way toward a competing class's
    # centre (the source class or a random one), so the noise must win against them.
    centroid_mix: float = 0.0
    centroid_mix_alpha: float = 0.75
    centroid_mix_layers: tuple[str, ...] = ("stage4", "stage5", "stage6", "stage7")
    shrink_margin: float | None = None  # shrink the noise while every surrogate keeps this logit margin; None: no shrink
    seed: int = 0

    @property
    def mode(self) -> str:
        return "transfer"

    def __post_init__(self) -> None:
        for name in ("surrogates", "centroid_layers", "centroid_mix_layers"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = tuple(v.strip() for v in value.split(",") if v.strip())
            object.__setattr__(self, name, tuple(value))
        checks = [
            (0 < self.eps <= 255, "eps must be in (0, 255] (1/255 units)"),
            (self.iterations >= 1, "iterations must be at least 1"),
            (len(self.surrogates) >= 1, "give at least one surrogate model"),
            (self.loss in TRANSFER_LOSSES, f"loss must be one of {', '.join(TRANSFER_LOSSES)}"),
            (self.step_size is None or self.step_size > 0, "step_size must be > 0"),
            (self.momentum >= 0, "momentum must be >= 0"),
            (0 <= self.diversity <= 1, "diversity must be a probability in [0, 1]"),
            (1 < self.di_scale <= 2, "di_scale must be in (1, 2]"),
            (self.ti_kernel >= 0, "ti_kernel must be >= 0"),
            (self.centroid_weight >= 0, "centroid_weight must be >= 0"),
            (self.centroid_objective in CENTROID_OBJECTIVES,
             f"centroid_objective must be one of {', '.join(CENTROID_OBJECTIVES)}"),
            (0 <= self.centroid_mix <= 1, "centroid_mix must be a probability in [0, 1]"),
            (0 <= self.centroid_mix_alpha <= 1, "centroid_mix_alpha must be in [0, 1]"),
            (all(n.startswith("stage") for n in self.centroid_mix_layers), "centroid_mix_layers must be stages"),
            (self.shrink_margin is None or self.shrink_margin >= 0, "shrink_margin must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def alpha(self) -> float:
        """Step size in 1/255 units."""
        return self.step_size if self.step_size is not None else self.eps / 8

    @property
    def uses_centroids(self) -> bool:
        return self.centroid_weight > 0 or self.centroid_mix > 0

    @property
    def centroid_layers_needed(self) -> tuple[str, ...]:
        layers = (self.centroid_layers if self.centroid_weight > 0 else ()) + (
            self.centroid_mix_layers if self.centroid_mix > 0 else ())
        return tuple(dict.fromkeys(layers))


def load_surrogates(config: TransferConfig, device: str | torch.device | None = None) -> list[Classifier]:
    """The surrogate models of `config`, loaded (or reused from the model cache)."""
    return [load_model(name, device) for name in config.surrogates]


def centroid_folder(centroids: str | Path | Centroids | None) -> Path | None:
    """The folder transfer mode reads its centroids from, given the `centroids` argument of
    the other modes: "auto" (or None) means the shipped folder (None here), anything else
    must be a folder holding one <surrogate>.npz per surrogate."""
    if centroids is None or (isinstance(centroids, str) and centroids == "auto"):
        return None
    if isinstance(centroids, Centroids) or not Path(centroids).is_dir():
        raise CentroidError("in transfer mode the centroids are a folder holding one <model>.npz per surrogate "
                            f"(built with `guiapp-cli centroids build --layers ...`); got {centroids}")
    return Path(centroids)


def surrogate_centroid_path(name: str, folder: str | Path | None = None) -> Path:
    """Where surrogate `name`'s centroid file is: `folder`/<name>.npz, or the shipped one."""
    return Path(folder) / f"{name}.npz" if folder is not None else default_centroid_path(name)


def surrogate_centroids(
    surrogates: list[Classifier], config: TransferConfig, folder: str | Path | None = None
) -> dict[str, Centroids] | None:
    """The multi-layer centroids of every surrogate (`folder`/<model>.npz, by default the
    shipped ones), or None when the term is off.

    A surrogate without a file, or whose file lacks a layer, is an error: a silently
    weaker attack than the user asked for would be worse.
    """
    if not config.uses_centroids:
        return None
    found = {}
    for m in surrogates:
        path = surrogate_centroid_path(m.name, folder)
        if not path.exists():
            raise CentroidError(
                f"no centroids for surrogate {m.name} ({path}): set the centroid weight to 0, or build them "
                f"(guiapp-cli centroids build --model {m.name} --layers {','.join(config.centroid_layers_needed)} "
                "...) and pass their folder as the centroids (--centroids DIR)")
        cents = load_centroids(path, m)
        for layer in config.centroid_layers_needed:
            cents.layer(layer)  # raises with the layers the file has
        found[m.name] = cents
    return found


def gaussian_kernel1d(size: int, device: torch.device) -> torch.Tensor:
    coords = torch.linspace(-TI_SIGMAS, TI_SIGMAS, size, device=device)
    k = torch.exp(-0.5 * coords**2)
    return k / k.sum()


def smooth_gradient(grad: torch.Tensor, size: int) -> torch.Tensor:
    """TI: separable Gaussian smoothing of a (1,3,H,W) gradient (zero padding, as in TI)."""
    if size <= 1:
        return grad
    k = gaussian_kernel1d(size, grad.device)
    pad = size // 2
    out = F.conv2d(grad, k.view(1, 1, 1, size).expand(3, 1, 1, size).contiguous(), padding=(0, pad), groups=3)
    return F.conv2d(out, k.view(1, 1, size, 1).expand(3, 1, size, 1).contiguous(), padding=(pad, 0), groups=3)


def diverse_input(crop: torch.Tensor, p: float, gen: torch.Generator, scale: float = 1.1) -> torch.Tensor:
    """DI: with probability p, resize the (1,3,s,s) crop to a random size in [s, scale*s) and
    zero-pad it at a random offset to scale*s; otherwise return it unchanged. The model then
    sees the content up to `scale` times larger, as a model with a larger input would."""
    if p <= 0 or float(torch.rand(1, generator=gen)) >= p:
        return crop
    s = crop.shape[-1]
    out_size = int(s * scale)
    rnd = int(torch.randint(s, out_size, (1,), generator=gen))
    resized = F.interpolate(crop, size=(rnd, rnd), mode="bilinear", align_corners=False)
    rem = out_size - rnd
    top = int(torch.randint(0, rem + 1, (1,), generator=gen))
    left = int(torch.randint(0, rem + 1, (1,), generator=gen))
    return F.pad(resized, (left, rem - left, top, rem - top))


def target_margin(logits: torch.Tensor, target: int) -> torch.Tensor:
    """Target logit minus the best other logit, per row."""
    others = torch.cat([logits[:, :target], logits[:, target + 1 :]], 1).amax(1)
    return logits[:, target] - others


def shrink_noise(
    surrogates: list[Classifier],
    x: torch.Tensor,
    delta: torch.Tensor,
    target: int,
    margin: float,
    cancel: threading.Event | None = None,
) -> Iterator[tuple[torch.Tensor, bool, torch.Tensor, torch.Tensor]]:
    """Bisect the smallest scale s of `delta` whose 8-bit image x + s*delta keeps every
    surrogate's target margin >= `margin`. Yields (probe image, ok, margins, best so far).

    Transfer noise is optimised to the L-inf budget everywhere; most of it is not needed
    to keep the surrogates convinced, and less noise is less visible. The margin is the
    safety that buys transfer to unseen models (docs/BENCHMARKS.md measures the trade).
    """

    def rounded(scale: float) -> torch.Tensor:
        return torch.round((x + scale * delta).clamp(0, 1) * 255) / 255

    def margins_of(q: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([target_margin(m.logits(q), target) for m in surrogates])

    best = rounded(1.0)
    full = margins_of(best)
    yield best, bool((full >= margin).all()), full, best
    if not bool((full >= margin).all()):
        return  # the full noise does not reach the margin: keep all of it
    lo, hi = 0.0, 1.0
    for _ in range(SHRINK_PROBES):
        if cancel is not None and cancel.is_set():
            return
        mid = (lo + hi) / 2
        q = rounded(mid)
        margins = margins_of(q)
        ok = bool((margins >= margin).all())
        if ok:
            hi, best = mid, q
        else:
            lo = mid
        yield q, ok, margins, best


@dataclass(frozen=True)
class _LossProgress:
    """What the surrogates saw in one iteration's (diverse) inputs, averaged: for the live view."""

    target_conf: float
    source_conf: float
    top1: int  # the most common top-1 among the surrogates


class PullTerm:
    """Squared distance of a layer's statistics to one centre, relative to the centre's norm."""

    def __init__(self, centre: torch.Tensor) -> None:
        self.centre = centre

    def __call__(self, f: torch.Tensor) -> torch.Tensor:
        return ((f - self.centre) ** 2).sum() / (self.centre**2).sum()


class ContrastTerm:
    """d_target / (d_target + d_source): the share of the distance still left to the target's
    centre; it falls as the statistics move toward the target and away from the source."""

    def __init__(self, target: torch.Tensor, source: torch.Tensor) -> None:
        self.target, self.source = target, source

    def __call__(self, f: torch.Tensor) -> torch.Tensor:
        d_target = ((f - self.target) ** 2).sum()
        d_source = ((f - self.source) ** 2).sum()
        return d_target / (d_target + d_source + 1e-12)


class PrototypeHead:
    """A nearest-centre classifier on one layer's pooled statistics, and its cross-entropy
    toward the target. Channels are standardised by the spread of all centres first (raw
    channel means differ by orders of magnitude, so a few channels would decide every
    distance); a class's score is the best cosine similarity among its centres. Unlike a
    pull toward one centre, this asks for what tells the target apart from the other
    classes at that depth, the signal feature-level transfer attacks use (FDA, Inkawhich
    et al. 2020), from the centres instead of trained auxiliary heads."""

    def __init__(self, cents: Centroids, layer: str, target: int, num_classes: int, device: torch.device) -> None:
        cents.for_class(target, layer)  # raises when the file has no centre for the target
        rows = torch.from_numpy(cents.layer(layer)).float().to(device)
        self.mean = rows.mean(0)
        self.std = rows.std(0) + 1e-6
        self.rows = F.normalize((rows - self.mean) / self.std, dim=1)
        self.owner = torch.from_numpy(cents.class_index.astype(np.int64)).to(device)
        self.num_classes = num_classes
        self.target = torch.tensor([target], device=device)

    def logits(self, f: torch.Tensor) -> torch.Tensor:
        """(num_classes,) scores; classes without centres in the file get -inf (never win)."""
        cos = self.rows @ F.normalize((f - self.mean) / self.std, dim=0)
        empty = torch.full((self.num_classes,), -math.inf, device=f.device)
        return PROTOTYPE_SCALE * empty.scatter_reduce(0, self.owner, cos, "amax", include_self=True)

    def __call__(self, f: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(f)[None], self.target)


CentroidTerm = PullTerm | ContrastTerm | PrototypeHead


class TransferAttack:
    """`for record in attack.steps(): ...` then `attack.result`; `cancel()` from any thread.

    Same interface as TargetedAttack, so the CLI, the GUI and batch drive both alike.
    """

    def __init__(
        self,
        surrogates: list[Classifier],
        image: np.ndarray,
        target: int,
        config: TransferConfig | None = None,
        centroids: dict[str, Centroids] | None = None,
    ) -> None:
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError("image must be an (H, W, 3) uint8 array")
        if not surrogates:
            raise ValueError("give at least one surrogate model")
        if not 0 <= target < surrogates[0].num_classes:
            raise ValueError(f"target {target} outside 0..{surrogates[0].num_classes - 1}")
        check_attack_memory(image.shape[1], image.shape[0], "transfer", surrogates[0].device, len(surrogates))
        self.surrogates = surrogates
        self.image = image
        self.target = target
        self.config = config or TransferConfig()
        self.centroids = centroids if self.config.uses_centroids else None
        if self.config.uses_centroids and centroids is None:
            raise ValueError("the config uses centroids: pass them (surrogate_centroids)")
        self._cancel = threading.Event()
        self.result: AttackResult | None = None
        self._current: torch.Tensor | None = None

    # -- the interface shared with TargetedAttack -----------------------------------------
    def current_image(self) -> np.ndarray | None:
        """The 8-bit image of the latest step (call from the iterating thread)."""
        return None if self._current is None else tensor_to_image(self._current)

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    # -- pieces ----------------------------------------------------------------------------
    def _ti_size(self, height: int, width: int) -> int:
        """TI kernel at the image's resolution: the configured size is in model-input pixels."""
        k = self.config.ti_kernel
        if k <= 1:
            return 1
        resize = sum(m.spec.resize for m in self.surrogates) / len(self.surrogates)
        size = max(1, round(k * min(height, width) / resize))
        return size if size % 2 else size + 1

    def _nearest_centres(self, x: torch.Tensor, cls: int) -> list[dict[str, torch.Tensor]]:
        """Per surrogate and layer, the centre of class `cls` nearest to the clean image."""
        chosen: list[dict[str, torch.Tensor]] = []
        layers = self.config.centroid_layers
        for m in self.surrogates:
            with torch.no_grad():
                _, taps = m.features_with_taps(normalise(to_model_crop(x, m.spec), m.spec), layers)
            per_layer = {}
            for layer in layers:
                centres = self.centroids[m.name].for_class(cls, layer).to(x.device)
                nearest = int(((centres - taps[layer]) ** 2).sum(1).argmin())
                per_layer[layer] = centres[nearest]
            chosen.append(per_layer)
        return chosen

    def _centroid_terms(self, x: torch.Tensor, source: int) -> list[dict[str, CentroidTerm]]:
        """Per surrogate and layer, the loss the centroid term puts on that layer's statistics
        (built once, before the first iteration, so a file lacking a class fails up front)."""
        cfg = self.config
        if cfg.centroid_objective == "classify":
            return [{layer: PrototypeHead(self.centroids[m.name], layer, self.target, m.num_classes, x.device)
                     for layer in cfg.centroid_layers} for m in self.surrogates]
        targets = self._nearest_centres(x, self.target)
        if cfg.centroid_objective == "contrast" and source != self.target:
            sources = self._nearest_centres(x, source)
            return [{layer: ContrastTerm(t[layer], s[layer]) for layer in t} for t, s in zip(targets, sources)]
        return [{layer: PullTerm(c) for layer, c in t.items()} for t in targets]

    def _mix_plan(self, m: Classifier, source: int, gen: torch.Generator) -> dict | None:
        """Centroid mixup for one forward pass of surrogate `m`: for each mix layer, with
        probability `centroid_mix`, a competing class's centre (the source class half the
        time, else a random non-target class present in the file) and per-channel
        fractions alpha ~ U(0, centroid_mix_alpha)."""
        cfg = self.config
        if cfg.centroid_mix <= 0:
            return None
        cents = self.centroids[m.name]
        plan = {}
        for layer in cfg.centroid_mix_layers:
            if float(torch.rand(1, generator=gen)) >= cfg.centroid_mix:
                continue
            owners = cents.class_index
            if source != self.target and float(torch.rand(1, generator=gen)) < 0.5 and (owners == source).any():
                rows = np.flatnonzero(owners == source)
            else:
                rows = np.flatnonzero(owners != self.target)
            row = int(rows[int(torch.randint(0, len(rows), (1,), generator=gen))])
            centre = torch.from_numpy(cents.layer(layer)[row]).to(m.device)
            alpha = torch.rand(len(centre), generator=gen).to(m.device) * cfg.centroid_mix_alpha
            plan[layer] = (alpha, centre)
        return plan or None

    @staticmethod
    def _centroid_term(taps: dict[str, torch.Tensor], terms: dict[str, CentroidTerm]) -> torch.Tensor:
        """Sum over the tapped layers of each layer's centroid loss."""
        return sum((term(taps[layer][0]) for layer, term in terms.items()),
                   torch.zeros((), device=next(iter(taps.values())).device))

    def _loss(self, x_adv: torch.Tensor, gen: torch.Generator, terms, source: int = -1):
        """Mean over surrogates of the class loss (+ weighted centroid loss) on diverse inputs."""
        cfg = self.config
        class_total = torch.zeros((), device=x_adv.device)
        centroid_total = torch.zeros((), device=x_adv.device)
        confs, source_confs, tops = [], [], []
        for i, m in enumerate(self.surrogates):
            inp = normalise(diverse_input(to_model_crop(x_adv, m.spec), cfg.diversity, gen, cfg.di_scale), m.spec)
            mix = self._mix_plan(m, source, gen)
            if terms is not None or mix is not None:
                feats, taps = m.features_with_taps(inp, cfg.centroid_layers if terms is not None else (), mix)
                if terms is not None:
                    centroid_total = centroid_total + self._centroid_term(taps, terms[i])
            else:
                feats = m.features(inp)
            logits = m.head(feats)
            if cfg.loss == "logit":
                class_total = class_total - logits[0, self.target]
            else:
                class_total = class_total + F.cross_entropy(logits, torch.tensor([self.target], device=logits.device))
            probs = logits.detach().softmax(1)[0]
            confs.append(float(probs[self.target]))
            source_confs.append(float(probs[source]) if source >= 0 else math.nan)
            tops.append(int(probs.argmax()))
        n = len(self.surrogates)
        class_loss, centroid_loss = class_total / n, centroid_total / n
        progress = _LossProgress(sum(confs) / n, sum(source_confs) / n, max(set(tops), key=tops.count))
        return class_loss + cfg.centroid_weight * centroid_loss, class_loss, centroid_loss, progress

    def _margins(self, image01: torch.Tensor) -> torch.Tensor:
        """Target margin of the (rounded) image on every surrogate, no diversity."""
        with torch.no_grad():
            return torch.cat([target_margin(m.logits(image01), self.target) for m in self.surrogates])

    def _probs(self, image01: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.stack([m.logits(image01).softmax(1)[0] for m in self.surrogates])

    # -- the loop --------------------------------------------------------------------------
    def steps(self) -> Iterator[StepRecord]:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        dev = self.surrogates[0].device
        x = image_to_tensor(self.image, dev)
        source_probs = self._probs(x).mean(0)
        source = int(source_probs.argmax())
        terms = self._centroid_terms(x, source) if cfg.centroid_weight > 0 else None
        eps, alpha = cfg.eps / 255, cfg.alpha / 255
        ti_size = self._ti_size(*x.shape[-2:])
        delta = torch.zeros_like(x, requires_grad=True)
        momentum = torch.zeros_like(x)
        adversarial = False
        step = 0

        for step in range(1, cfg.iterations + 1):
            if self._cancel.is_set():
                step -= 1
                break
            x_adv = x + delta
            loss, class_loss, centroid_loss, seen = self._loss(x_adv, gen, terms, source)
            grad, = torch.autograd.grad(loss, delta)
            with torch.no_grad():
                grad = smooth_gradient(grad, ti_size)
                if cfg.momentum > 0:
                    momentum = cfg.momentum * momentum + grad / (grad.abs().mean() + 1e-12)
                else:
                    momentum = grad
                delta -= alpha * momentum.sign()
                delta.clamp_(-eps, eps)
                torch.maximum(delta, -x, out=delta)
                torch.minimum(delta, 1 - x, out=delta)
                q = torch.round((x + delta) * 255) / 255
                self._current = q
                diff255 = torch.round((q - x) * 255)
                mse = float(diff255.pow(2).mean())
                if step % EVAL_EVERY == 0 or step == cfg.iterations:
                    adversarial = bool((self._margins(q) > 0).all())
            yield StepRecord(
                step=step, phase="transfer", loss=float(loss.detach()), class_loss=float(class_loss.detach()),
                centroid_loss=float(centroid_loss.detach()), target_conf=seen.target_conf,
                source_conf=seen.source_conf, top1=seen.top1,
                linf=float(diff255.abs().max()), psnr=psnr_from_mse(mse), adversarial=adversarial,
                best_psnr=psnr_from_mse(mse) if adversarial else math.nan,
            )

        final = (x + delta.detach()).clamp(0, 1)
        if cfg.shrink_margin is not None and not self._cancel.is_set() and step > 0:
            final = yield from self._shrink(x, delta.detach(), step)
        adv = tensor_to_image(final)
        self._finish(adv, source, step)

    def _shrink(self, x: torch.Tensor, delta: torch.Tensor, step: int):
        """Yield one record per bisection probe of `shrink_noise`; return the kept image."""
        best = None
        for probe, (q, ok, margins, kept) in enumerate(
            shrink_noise(self.surrogates, x, delta, self.target, self.config.shrink_margin, self._cancel), 1
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
        probs = torch.stack([classify_pil(m, Image.fromarray(adv)) for m in self.surrogates])
        success = all(int(p.argmax()) == self.target for p in probs)
        mean = probs.mean(0)
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
        )
