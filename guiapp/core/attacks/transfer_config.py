"""The transfer mode's settings: every switch of the known transfer machinery, with its
help, bounds and the measured defaults (docs/BENCHMARKS.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..models import available_models
from ..options import as_tuple, check_bounds, option

DEFAULT_SURROGATES = ("efficientnet-lite0", "efficientnet-lite1")
STAGES = tuple(f"stage{i}" for i in range(1, 8))


@dataclass(frozen=True, kw_only=True)
class TransferConfig:
    """Settings of one transfer attack (all switches of the known transfer machinery)."""

    mode: ClassVar[str] = "transfer"

    eps: float = option(16.0, "L-inf budget", unit="/255", low=0, high=255, low_open=True, gui=True,
                        label="Budget", decimals=1)
    # Gradient iterations on the surrogate ensemble. 100: bench/transfer.py at 16/255 fooled
    # Lite2 on 89% of 100 pairs after 50, 93% after 100 (15 s/image on 2 cores).
    iterations: int = option(100, "gradient iterations on the surrogates (transfer keeps improving for hundreds)",
                             low=1, high=5000, gui=True, counts_steps=True)
    surrogates: tuple[str, ...] = option(DEFAULT_SURROGATES, "models the noise is crafted on; a judge is never "
                                         "among them", choices=tuple(available_models()), gui=True)
    loss: str = option("logit", "class loss: logit (minus the target logit, Zhao et al. 2021) or ce "
                       "(cross-entropy)", choices=("logit", "ce"))
    step_size: float | None = option(None, "per-iteration step", unit="/255", low=0, high=64, low_open=True,
                                     none="eps/8")
    momentum: float = option(1.0, "MI decay factor; 0 disables momentum", low=0, high=10)
    diversity: float = option(0.7, "DI: probability of a random resize-and-pad per iteration; 0 disables",
                              low=0, high=1)
    # From 1.01: below 1 + 1/crop the padded size rounds to the crop itself and DI has no
    # sizes to draw from (1.004 crashed the attack in torch.randint).
    di_scale: float = option(1.1, "DI: resize to [s, di_scale*s) and pad to di_scale*s", low=1.01, high=2)
    # Bounded so that one iteration stays short on a large image (the kernel grows with it).
    ti_kernel: int = option(5, "TI: Gaussian gradient smoothing kernel, in model-input pixels; 0 or 1 disables",
                            low=0, high=31)
    # The centroid term: weight, layers, objective. Default: the "classify" head on stages 5
    # and 6 at weight 0.5 (bench/transfer.py, 100 pairs: Lite2 93% vs 86% without it at
    # 16/255, 64% vs 56% at 8/255, ahead at every checkpoint; docs/BENCHMARKS.md).
    centroid_weight: float = option(0.5, "weight of the class centroids' vote: the surrogates' mid-level features "
                                    "must also vote for the target among every class's centres; 0 turns it off",
                                    low=0, high=100, gui=True, step=0.1)
    centroid_layers: tuple[str, ...] = option(("stage5", "stage6"), "layers the centroid term acts on",
                                              choices=(*STAGES, "head"))
    centroid_objective: str = option("classify", "what the centroid term asks of those layers: classify (win a "
                                     "nearest-centre vote), pull or contrast (toward the target's centre)",
                                     choices=("pull", "contrast", "classify"))
    # Centroid mixup: with this probability per layer and iteration, move the surrogate's
    # channel statistics up to `centroid_mix_alpha` of the way toward a competing class's
    # centre (the source class or a random one), so the noise must win against them.
    centroid_mix: float = option(0.0, "centroid mixup probability per layer and iteration", low=0, high=1)
    centroid_mix_alpha: float = option(0.75, "centroid mixup: largest fraction of the way to the competing centre",
                                       low=0, high=1)
    centroid_mix_layers: tuple[str, ...] = option(("stage4", "stage5", "stage6", "stage7"),
                                                  "layers centroid mixup acts on", choices=STAGES)
    shrink_margin: float | None = option(None, "shrink the noise while every surrogate keeps this logit margin",
                                         low=0, high=100, none="no shrink")
    seed: int = option(0, "random seed", low=0, high=2**32 - 1)

    def __post_init__(self) -> None:
        for name in ("surrogates", "centroid_layers", "centroid_mix_layers"):
            object.__setattr__(self, name, as_tuple(getattr(self, name)))
        if not self.surrogates:
            raise ValueError("give at least one surrogate model")
        check_bounds(self)

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
