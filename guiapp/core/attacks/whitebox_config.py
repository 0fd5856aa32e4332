"""The white-box modes' settings: the options of the default mode (the robust mode adds its
own), with their help, bounds and the measured defaults (docs/BENCHMARKS.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..defences import Defence
from ..options import check_bounds, option


@dataclass(frozen=True, kw_only=True)
class AttackConfig:
    """Settings of one white-box targeted attack; the defaults are the measured ones
    (docs/BENCHMARKS.md)."""

    mode: ClassVar[str] = "default"
    START_EPS: ClassVar[float] = 2.0  # initial L-inf box when start_eps is None
    REFINE_STEPS: ClassVar[int] = 2  # refine steps when refine_steps is None...
    REFINE_EXTRA: ClassVar[int] = 8  # ...plus up to this many while the best PSNR < REFINE_FLOOR_DB

    eps: float = option(16.0, "L-inf budget: no pixel channel changes by more than this many 8-bit levels; the "
                        "attack starts small and grows only as needed", unit="/255", low=0, high=255,
                        low_open=True, gui=True, label="Budget", decimals=1)
    # "perceptual": the noise is a brightness change only (R, G and B alike), weighted per
    # pixel by the photo's texture (perceptual_budget.equal_ssim_shape: next to none on
    # flat areas); eps stays the largest change of any pixel (docs/BENCHMARKS.md).
    budget: str = option("linf", "where the noise may go: linf (any colour, one L-inf box) or perceptual "
                         "(brightness only, more in texture, next to none on flat areas)",
                         choices=("linf", "perceptual"), gui=True, label="Noise")
    max_steps: int = option(200, "give up after this many gradient steps", unit="steps", low=1, high=5000,
                            flag="--steps", gui=True, label="Max steps", counts_steps=True)
    refine_steps: int | None = option(None, "steps spent shrinking the noise after success (auto: 2, more while "
                                      "PSNR < 46 dB, 10 in robust mode; 10 gives ~4.5 dB more PSNR in 1.8x the time)",
                                      unit="steps", low=0, high=500, none="auto", gui=True, counts_steps=True)
    confidence: float = option(0.0, "required target probability in the saved image (0: being top-1 is enough)",
                               low=0, high=0.99, gui=True, step=0.05)
    margin: float = option(0.5, "extra logit margin, so tiny resampling differences cannot flip the result",
                           low=0, high=50)
    centroid_weight: float = option(0.0, "weight of the pull toward the target's typical feature vector (its "
                                    "class centroid)", low=0, high=100, gui=True, step=0.1)
    start_eps: float | None = option(None, "initial L-inf box (auto: 2, robust 4)", unit="/255", low=0, high=255,
                                     low_open=True, none="auto")
    seed: int = option(0, "random seed", low=0, high=2**32 - 1)

    def __post_init__(self) -> None:
        check_bounds(self)

    def defences_to_survive(self) -> tuple[Defence, ...]:
        """Defences every step's view must survive (none: the plain white-box attack)."""
        return ()

    def survival_levels(self) -> tuple[str, ...]:
        """Where the defences are applied: "file" (the image at its own size), "view"."""
        return ()

    @property
    def gradient_precision(self) -> str:
        """Number format of the gradient passes: float32 in the default mode (its ~50 dB
        noise is tuned to float32 margins); the robust mode has a setting."""
        return "float32"

    @property
    def refine_budget(self) -> int:
        """Refine steps actually used: `refine_steps`, or the mode's default."""
        return self.refine_steps if self.refine_steps is not None else self.REFINE_STEPS

    @property
    def refine_extra(self) -> int:
        """Auto mode (no explicit `refine_steps`) may refine this many more steps while the
        best PSNR is below REFINE_FLOOR_DB; explicit counts are exact."""
        return self.REFINE_EXTRA if self.refine_steps is None else 0

    @property
    def start_box(self) -> float:
        """Initial L-inf box in 1/255 units: `start_eps`, or the mode's default, within eps."""
        return min(self.start_eps or self.START_EPS, self.eps)
