"""Attack modes as strategies, and the registry every front-end reads them from.

- "default": the smallest noise that flips the chosen model (white-box, whitebox.py).
- "robust": white-box noise that also survives purification defences (robust.py).
- "transfer": crafted on surrogate models only, to fool models it never saw (transfer.py).
- "query": transfer steered by a victim's answers, a model we can only ask (query.py).

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
from .query_config import QueryConfig
from .query_strategy import QueryStrategy
from .robust import RobustConfig, RobustStrategy
from .transfer import TransferAttack
from .transfer_config import TransferConfig
from .transfer_strategy import TransferStrategy
from .whitebox import AttackConfig, TargetedAttack
from .whitebox_strategy import WhiteBoxStrategy

STRATEGIES: dict[str, AttackStrategy] = {
    s.mode: s for s in (WhiteBoxStrategy(), RobustStrategy(), TransferStrategy(), QueryStrategy())}
MODES = tuple(STRATEGIES)


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


def presets_of(mode: str) -> dict[str, dict[str, Any]]:
    """The mode's named option sets (empty for a mode without presets)."""
    return dict(get_strategy(mode).presets)


def preset_options(mode: str, preset: str | None) -> dict[str, Any]:
    """The options preset `preset` of `mode` sets (a GuiappError naming the choices)."""
    if preset is None:
        return {}
    presets = presets_of(mode)
    if preset not in presets:
        if not presets:
            raise GuiappError(f"the {mode} mode has no presets (modes with presets: "
                              f"{', '.join(m for m in MODES if presets_of(m))})")
        raise GuiappError(f"unknown preset {preset[:40]!r} for the {mode} mode; choose one of: {', '.join(presets)}")
    return dict(presets[preset])


def make_config(mode: str = "default", preset: str | None = None, **options: Any) -> Any:
    """The config of `mode` with `options` (None values mean "the mode's default"), on top
    of the named `preset` when one is given (options given explicitly win)."""
    cls = config_class(mode)
    allowed = set(option_names(mode))
    given = {**preset_options(mode, preset), **{k: v for k, v in options.items() if v is not None}}
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
    "MODES", "STRATEGIES", "AttackConfig", "AttackLoop", "AttackResult", "AttackStrategy", "QueryConfig",
    "RobustConfig", "StepRecord", "TargetedAttack", "TransferAttack", "TransferConfig", "config_class",
    "config_dict", "get_strategy", "make_config", "modes_with", "option_names", "options_of", "preset_options",
    "presets_of", "strategy_of",
]
