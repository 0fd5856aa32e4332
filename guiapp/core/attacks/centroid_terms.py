"""The transfer mode's centroid term: what the class centroids ask of the surrogates'
intermediate layers, where each surrogate's centroid file is, and centroid mixup.

"classify" (the default) is a nearest-centre vote among every class's centres at a layer;
"pull" and "contrast" pull toward the target's nearest centre (they did not help; kept as
switches, docs/BENCHMARKS.md).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..centroids import Centroids, default_centroid_path, load_centroids
from ..errors import CentroidError
from ..models import Classifier
from ..preprocess import normalise, to_model_crop

# "classify": cosine similarities (in [-1, 1]) times this are the prototype head's logits.
# 20 keeps its softmax from saturating before the image is near the target's centres.
PROTOTYPE_SCALE = 20.0


def centroid_folder(centroids: Any) -> Path | None:
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


def surrogate_centroids(surrogates: list[Classifier], layers: tuple[str, ...],
                        folder: str | Path | None = None) -> dict[str, Centroids]:
    """The multi-layer centroids of every surrogate (`folder`/<model>.npz, by default the
    shipped ones), each checked to hold `layers`.

    A surrogate without a file, or whose file lacks a layer, is an error: a silently
    weaker attack than the user asked for would be worse.
    """
    found = {}
    for m in surrogates:
        path = surrogate_centroid_path(m.name, folder)
        if not path.exists():
            raise CentroidError(
                f"no centroids for surrogate {m.name} ({path}): set the centroid weight to 0, or build them "
                f"(guiapp-cli centroids build --model {m.name} --layers {','.join(layers)} "
                "...) and pass their folder as the centroids (--centroids DIR)")
        cents = load_centroids(path, m)
        for layer in layers:
            cents.layer(layer)  # raises with the layers the file has
        found[m.name] = cents
    return found


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


def centroid_term(taps: dict[str, torch.Tensor], terms: dict[str, CentroidTerm]) -> torch.Tensor:
    """Sum over the tapped layers of each layer's centroid loss."""
    return sum((term(taps[layer][0]) for layer, term in terms.items()),
               torch.zeros((), device=next(iter(taps.values())).device))


def nearest_centres(surrogates: list[Classifier], centroids: dict[str, Centroids], layers: tuple[str, ...],
                    x: torch.Tensor, classes: list[int]) -> list[dict[str, torch.Tensor]]:
    """Per surrogate and layer, the centre of its class `classes[i]` nearest to the clean image."""
    chosen: list[dict[str, torch.Tensor]] = []
    for m, cls in zip(surrogates, classes, strict=True):
        with torch.no_grad():
            _, taps = m.features_with_taps(normalise(to_model_crop(x, m.spec), m.spec), layers)
        per_layer = {}
        for layer in layers:
            centres = centroids[m.name].for_class(cls, layer).to(x.device)
            nearest = int(((centres - taps[layer]) ** 2).sum(1).argmin())
            per_layer[layer] = centres[nearest]
        chosen.append(per_layer)
    return chosen


def centroid_terms_for(surrogates: list[Classifier], centroids: dict[str, Centroids], objective: str,
                       layers: tuple[str, ...], x: torch.Tensor, targets: list[int],
                       sources: list[int] | None) -> list[dict[str, CentroidTerm]]:
    """Per surrogate and layer, the term for `objective` ("classify", "pull" or "contrast")
    toward `targets` (each surrogate's own index); `sources`: the clean image's class in each
    surrogate's list, None when it is the target already (contrast then pulls only)."""
    if objective == "classify":
        return [{layer: PrototypeHead(centroids[m.name], layer, t, m.num_classes, x.device) for layer in layers}
                for m, t in zip(surrogates, targets, strict=True)]
    chosen = nearest_centres(surrogates, centroids, layers, x, targets)
    if objective == "contrast" and sources is not None:
        source_centres = nearest_centres(surrogates, centroids, layers, x, sources)
        return [{layer: ContrastTerm(t[layer], s[layer]) for layer in t}
                for t, s in zip(chosen, source_centres, strict=True)]
    return [{layer: PullTerm(c) for layer, c in t.items()} for t in chosen]


def mix_plan(cents: Centroids, device: torch.device, target: int, source: int, gen: torch.Generator, mix: float,
             mix_layers: tuple[str, ...], mix_alpha: float) -> dict | None:
    """Centroid mixup for one forward pass of a surrogate: for each layer of `mix_layers`,
    with probability `mix`, a competing class's centre (the source class half the time,
    else a random non-target class present in the file) and per-channel fractions
    alpha ~ U(0, mix_alpha). `target`, `source`: in the surrogate's own list."""
    plan = {}
    for layer in mix_layers:
        if float(torch.rand(1, generator=gen)) >= mix:
            continue
        owners = cents.class_index
        if source != target and float(torch.rand(1, generator=gen)) < 0.5 and (owners == source).any():
            rows = np.flatnonzero(owners == source)
        else:
            rows = np.flatnonzero(owners != target)
        row = int(rows[int(torch.randint(0, len(rows), (1,), generator=gen))])
        centre = torch.from_numpy(cents.layer(layer)[row]).to(device)
        alpha = torch.rand(len(centre), generator=gen).to(device) * mix_alpha
        plan[layer] = (alpha, centre)
    return plan or None
