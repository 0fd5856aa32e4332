"""The robust mode: white-box noise that survives purification defences.

It is the white-box loop asked to survive a list of defences: every step also sees the
model's view purified by each defence's differentiable estimate (guiapp.core.defences),
the loss is averaged over all views, and a result counts only if the real defences agree.
On 100 ImageNet samples the default list (JPEG-75, 2x rescaling) is survived every time at
47.5 dB median PSNR (docs/EVALUATION.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..defences import Defence, parse_defences
from ..errors import GuiappError
from ..memory import MIB
from ..options import as_tuple, option
from .whitebox import AttackConfig, WhiteBoxStrategy

# The order of the views in each step (the image, then one per defence).
DEFAULT_DEFENCES = ("rescale", "jpeg")
# A defence whose every application costs seconds cannot run inside each step.
TOO_SLOW = {"dip": "Deep Image Prior takes tens of seconds per application; it cannot run in every step"}


@dataclass(frozen=True, kw_only=True)
class RobustConfig(AttackConfig):
    """A white-box attack whose result must survive `defences`."""

    mode: ClassVar[str] = "robust"
    # Robust mode needs larger noise anyway (starting at 4/255 saves ~40% of its steps),
    # and its refine phase buys more (40 -> 45 dB median for 8 more steps on 12 samples).
    START_EPS: ClassVar[float] = 4.0
    REFINE_STEPS: ClassVar[int] = 10
    REFINE_EXTRA: ClassVar[int] = 0

    defences: tuple[str, ...] = option(DEFAULT_DEFENCES, "defences the result must survive, applied to the "
                                       "model's 8-bit view (name or name:param=value)")

    def __post_init__(self) -> None:
        object.__setattr__(self, "defences", as_tuple(self.defences))
        if not self.defences:
            raise ValueError("defences: give at least one defence to survive")
        try:
            parsed = parse_defences(",".join(self.defences))
        except GuiappError as exc:
            raise ValueError(f"defences: {exc}") from None
        slow = [TOO_SLOW[d.name] for d in parsed if d.name in TOO_SLOW]
        if slow:
            raise ValueError(f"defences: {slow[0]}")
        super().__post_init__()

    def defences_to_survive(self) -> tuple[Defence, ...]:
        return tuple(parse_defences(",".join(self.defences)))


class RobustStrategy(WhiteBoxStrategy):
    mode = "robust"
    config_type: ClassVar[type] = RobustConfig
    summary = ("Noise that also survives purification defences of the model's view (JPEG-75 and 2x "
               "down/up-scaling by default; white-box); stronger, more visible noise.")
    # Measured like the default mode (bench/attack_memory.py): 238 MiB + 164 B/px, rounded up;
    # a 20000x32 strip added 1170 MiB (bench/hardening.py), within the default mode's
    # allowance per resized pixel.
    per_pixel, fixed = 180, 300 * MIB

    def describe(self, config: Any) -> str:
        return f"{super().describe(config)}, surviving {', '.join(config.defences)}"
