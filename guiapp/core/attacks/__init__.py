"""Attack modes as strategies, and the registry every front-end reads them from.

- "default": the smallest noise that flips the chosen model (white-box, whitebox.py).
- "robust": white-box noise that also survives purification defences (robust.py).
- "transfer": crafted on surrogate models only, to fool models it never saw (transfer.py).

`make_config(mode, **options)` turns a mode name and option values (the config field
names, e.g. eps=8, max_steps=100, iterations=300) into the mode's frozen config and
reports a bad option or value as a GuiappError, so every entry point says the same thing.
`strategy_of(config)` gives the strategy the pipeline and the front-ends ask about a mode.
A new mode is a module defining a config and an AttackStrategy, plus one line below.
"""

from __future__ import annotations

from typing import Any

from ..errors import GuiappError
from ..options import OptionSpec, specs
from .base import AttackLoop, AttackResult, AttackStrategy, StepRecord, config_dict
from .robust import RobustConfig, RobustStrategy
from .transfer import TransferAttack, TransferStrategy
from .transfer_config import TransferConfig
from .whitebox import AttackConfig, TargetedAttack, WhiteBoxStrategy

STRATEGIES: dict[str, AttackStrategy] = {s.mode: s for s in (WhiteBoxStrategy(), RobustStrategy(), TransferStrategy())}
MODES = tuple(STRATEGIES)
AnyConfig = AttackConfig | RobustConfig | TransferConfig


def get_strategy(mode: str) -> AttackStrategy:
    try:
        return STRATEGIES[mode]
    except KeyError:
        raise GuiappError(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}") from None


def strategy_of(config: Any) -> AttackStrategy:
    """The strategy of a config object (its mode)."""
    return get_strategy(config.mode)


def config_class(mode: str) -> type:
    return get_strategy(mode).config_type


def options_of(mode: str) -> tuple[OptionSpec, ...]:
    """The options `make_config` accepts for `mode`, with their metadata."""
    return specs(config_class(mode))


def option_names(mode: str) -> list[str]:
    return [s.name for s in options_of(mode)]


def modes_with(option: str) -> list[str]:
    """The modes that take an option (for 'only applies to ...' messages)."""
    return [m for m in MODES if option in option_names(m)]


def make_config(mode: str = "default", **options: Any) -> Any:
    """The config of `mode` with `options` (None values mean "the mode's default")."""
    cls = config_class(mode)
    allowed = set(option_names(mode))
    given = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise GuiappError(
            f"option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} not available in {mode} mode "
            f"(it takes: {', '.join(sorted(allowed))})"
        )
    try:
        return cls(**given)
    except (TypeError, ValueError) as exc:
        raise GuiappError(f"bad setting for the {mode} mode: {exc}") from exc


__all__ = [
    "MODES", "STRATEGIES", "AnyConfig", "AttackConfig", "AttackLoop", "AttackResult", "AttackStrategy",
    "RobustConfig", "StepRecord", "TargetedAttack", "TransferAttack", "TransferConfig", "config_class",
    "config_dict", "get_strategy", "make_config", "modes_with", "option_names", "options_of", "strategy_of",
]
