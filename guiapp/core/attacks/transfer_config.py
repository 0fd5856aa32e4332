"""The transfer mode's settings: every switch of the known transfer machinery, with its
help, bounds and the measured defaults (docs/BENCHMARKS.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..device import PRECISION_HELP, PRECISIONS
from ..models import available_models
from ..options import as_tuple, check_bounds, option

DEFAULT_SURROGATES = ("efficientnet-lite0", "efficientnet-lite1")
STAGES = tuple(f"stage{i}" for i in range(1, 8))
ITERATIONS = 150

# Named settings one switch away (CLI --preset, HTTP `preset`, the window's Preset box):
# "quiet" is the config's own defaults; "loud" is the published recipe at 16/255 (the
# transfer default before the perceptual budget), strongest and plainly visible.
PRESETS: dict[str, dict[str, object]] = {
    "quiet": {},
    "loud": {"budget": "linf", "eps": 16.0, "iterations": 100, "p_full": 0.0, "p_rrc": 0.0, "zoom_max": 1.0},
}


@dataclass(frozen=True, kw_only=True)
class TransferConfig:
    """Settings of one transfer attack (all switches of the known transfer machinery)."""

    mode: ClassVar[str] = "transfer"

    # The budget. "perceptual" (the default, the quiet preset): luma-only noise shaped per
    # photo by its texture, at 33 dB and a predicted SSIM >= 0.955 (perceptual_budget.py).
    # "linf" (the loud preset): one L-inf box of eps over RGB, as the papers report.
    budget: str = option("perceptual", "where the noise may go: perceptual (brightness only, more in texture, none "
                         "on flat areas, held to budget_psnr and min_ssim: looks unchanged) or linf (one box of eps "
                         "over RGB: stronger, visible)", choices=("perceptual", "linf"))
    eps: float = option(16.0, "L-inf budget; with the perceptual budget the most any pixel may change",
                        unit="/255", low=0, high=255, low_open=True, gui=True, label="Budget / cap", decimals=1)
    budget_psnr: float = option(33.0, "perceptual budget: the noise's energy, as the PSNR of noise at its bound "
                                "(higher: quieter, less transfer)", unit="dB", low=20, high=60, gui=True,
                                label="Budget PSNR", step=0.5, decimals=1, only_with=("budget", "perceptual"))
    min_ssim: float = option(0.955, "perceptual budget: the SSIM the result must keep, as predicted before the "
                             "run (flat photos then get their noise on edges only, or less of it)", low=0.5,
                             high=0.999, gui=True, label="Min SSIM", step=0.005, decimals=3,
                             only_with=("budget", "perceptual"))
    # Gradient iterations on the surrogate ensemble. Loud (linf 16/255): bench/transfer.py
    # fooled Lite2 on 89% of 100 pairs after 50, 93% after 100. Quiet: see docs/BENCHMARKS.md.
    iterations: int = option(ITERATIONS, "gradient iterations on the surrogates (transfer keeps improving for "
                             "hundreds)",
                             low=1, high=5000, gui=True, counts_steps=True)
    surrogates: tuple[str, ...] = option(DEFAULT_SURROGATES, "models the noise is crafted on; a judge is never "
                                         "among them", choices=tuple(available_models()), model_specs=True, gui=True)
    loss: str = option("logit", "class loss: logit (minus the target logit, Zhao et al. 2021) or ce "
                       "(cross-entropy)", choices=("logit", "ce"))
    step_size: float | None = option(None, "per-iteration step of the linf budget (the perceptual budget steps "
                                     "1/8 of each pixel's own bound)", unit="/255", low=0, high=64, low_open=True,
                                     none="eps/8", only_with=("budget", "linf"))
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
    # Views (transfer_views.py): what each surrogate sees per iteration.
    p_full: float = option(0.3, "probability of showing a surrogate the whole photo squashed to its input (noise "
                           "beyond the centre crop, for services that resize the whole photo)", low=0, high=1)
    p_rrc: float = option(0.3, "probability of a random resized crop view", low=0, high=1)
    rrc_min_area: float = option(0.25, "random resized crops: the smallest share of the photo's area", low=0.05,
                                 high=1)
    zoom_max: float = option(1.25, "views zoomed by U(1, zoom_max), as a model with a larger input sees the photo; "
                             "1 turns it off", low=1, high=2)
    # bench/transfer.py, paired on the held-back pairs: docs/BENCHMARKS.md, "Transfer speed".
    precision: str = option("auto", PRECISION_HELP, choices=PRECISIONS)
    shrink_margin: float | None = option(None, "shrink the noise while every surrogate keeps this logit margin",
                                         low=0, high=100, none="no shrink")
    seed: int = option(0, "random seed", low=0, high=2**32 - 1)

    def __post_init__(self) -> None:
        for name in ("surrogates", "centroid_layers", "centroid_mix_layers"):
            object.__setattr__(self, name, as_tuple(getattr(self, name)))
        if not self.surrogates:
            raise ValueError("give at least one surrogate model")
        check_bounds(self)
        if self.p_full + self.p_rrc > 1:  # one draw picks the whole photo, a random crop, or neither
            raise ValueError(f"p_full + p_rrc must be at most 1 (they share one draw), not "
                             f"{self.p_full:g} + {self.p_rrc:g}")
        if self.budget == "perceptual" and self.step_size is not None:
            raise ValueError("step_size applies to the linf budget only (the perceptual budget steps 1/8 of each "
                             "pixel's own bound)")

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
