"""Attack modes and their settings, built the same way by the CLI, the server, batch and the GUI.

- "default": the smallest noise that flips the chosen model (white-box).
- "robust": noise that also survives JPEG-75 and 2x rescaling (white-box).
- "transfer": crafted on surrogate models only, to fool models it never saw.

`make_config(mode, **options)` turns a mode name and option values (the config field
names, e.g. eps=8, max_steps=100, iterations=300) into the right frozen config and
reports a bad option or value as a GuiappError, so every entry point says the same thing.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, Union

from .attack import WHITE_BOX_MODES, AttackConfig
from .errors import GuiappError
from .transfer import TransferConfig

MODES = (*WHITE_BOX_MODES, "transfer")
AnyConfig = Union[AttackConfig, TransferConfig]


def config_class(mode: str) -> type[AttackConfig] | type[TransferConfig]:
    if mode not in MODES:
        raise GuiappError(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}")
    return TransferConfig if mode == "transfer" else AttackConfig


def option_names(mode: str) -> list[str]:
    """The options `make_config` accepts for `mode`."""
    return [f.name for f in fields(config_class(mode)) if f.name != "mode"]


def make_config(mode: str = "default", **options: Any) -> AnyConfig:
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
    if cls is AttackConfig:
        given["mode"] = mode
    try:
        return cls(**given)
    except (TypeError, ValueError) as exc:
        raise GuiappError(f"bad setting for the {mode} mode: {exc}") from exc


def config_dict(config: AnyConfig) -> dict[str, Any]:
    """JSON-able settings including the mode: for reports, PNG metadata and resume checks."""
    data = asdict(config)
    data["mode"] = config.mode
    for key, value in data.items():
        if isinstance(value, tuple):
            data[key] = list(value)
    return data
