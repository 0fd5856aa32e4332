"""Settings that describe themselves: every attack option carries its help, unit, bounds
and command-line flag, so the CLI, the HTTP form and the window's settings form are
generated from the config classes instead of listing the fields again by hand.

    eps: float = option(16.0, "L-inf budget", unit="/255", low=0, high=255, low_open=True)

`check_bounds(config)` (called by every config's __post_init__) enforces the bounds, so a
value is refused the same way whichever front-end it came from; `parse_text(spec, text)`
turns the text of a flag or a form field into a value of the field's type. Every number a
client can set has an upper bound that keeps one step of the attack short.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any

from .model_specs import is_user_spec

MAX_ITEMS = 16  # the most items a tuple option (models, defences, layers) may list


@dataclass(frozen=True)
class Option:
    """What a config field means to a person and where it may go."""

    help: str
    unit: str = ""  # shown after the value ("/255", "steps")
    low: float | None = None  # lower bound (inclusive unless low_open)
    high: float | None = None  # upper bound (inclusive)
    low_open: bool = False
    choices: tuple[str, ...] = ()  # allowed strings (or the allowed items of a tuple)
    # Items may also be a user's model spec (a file, torchvision:NAME...); a server still
    # accepts only the models its operator installed.
    model_specs: bool = False
    flag: str = ""  # CLI flag; default --field-name
    none: str = ""  # what None means, for a field that may be None ("auto", "eps/8")
    gui: bool = False  # shown in the window's settings form
    label: str = ""  # the form's row label; default from the field name
    placeholder: str = ""  # the form's grey hint in an empty text field
    step: float = 1.0  # the form's spin step
    decimals: int = 2  # the form's decimals for floats
    counts_steps: bool = False  # a number of optimisation steps (servers cap these)
    only_with: tuple[str, Any] | None = None  # (option, value): meaningful only when that option has that value


def option(default: Any, help: str, **kwargs: Any) -> Any:
    """A dataclass field with its Option metadata."""
    return dataclasses.field(default=default, metadata={"option": Option(help, **kwargs)})


@dataclass(frozen=True)
class OptionSpec:
    """One option of a config class, with its value type resolved."""

    name: str
    kind: type  # int, float, str, bool, or tuple (a tuple of strings)
    optional: bool  # None allowed
    default: Any
    meta: Option

    @property
    def flag(self) -> str:
        return self.meta.flag or "--" + self.name.replace("_", "-")

    @property
    def label(self) -> str:
        return self.meta.label or self.name.replace("_", " ").capitalize()

    def describe(self, value: Any) -> str:
        """A value of this option as a person reads it: None as what it means ("auto"), a
        tuple comma-joined, a float without trailing zeros."""
        if value is None:
            return self.meta.none or "none"
        if isinstance(value, tuple):
            return ",".join(map(str, value))
        return f"{value:g}" if isinstance(value, float) else str(value)

    def describe_default(self) -> str:
        return self.describe(self.default)

    def bounds_text(self) -> str:
        low, high = self.meta.low, self.meta.high
        if low is None and high is None:
            return ""
        left = "(" if self.meta.low_open else "["
        return f"{left}{_num(low) if low is not None else '-inf'}, {_num(high) if high is not None else 'inf'}]"


def readable_settings(config: Any) -> list[tuple[str, str]]:
    """A config as a person reads it (a report's Settings table): each option's label and
    its value with its unit, None as what it means ("auto"), a list comma-joined, a flag
    yes/no; the mode first."""
    rows = [("Mode", str(getattr(config, "mode", "")))]
    config_type: type = type(config)
    for s in specs(config_type):
        value = getattr(config, s.name)
        if isinstance(value, bool):
            text = "yes" if value else "no"
        elif isinstance(value, tuple):
            text = ", ".join(map(str, value)) or "none"
        else:
            text = s.describe(value)
            if isinstance(value, int | float) and s.meta.unit:  # "16/255", "33 dB", "200 steps"
                text += s.meta.unit if s.meta.unit.startswith("/") else f" {s.meta.unit}"
        rows.append((s.label, text))
    return rows


def _num(value: float) -> str:
    """12 -> '12', 4294967295 -> '4294967295' (not '4.29497e+09'), 0.5 -> '0.5'."""
    if isinstance(value, int):
        return str(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e16 else f"{value:g}"


def _resolve(annotation: Any) -> tuple[type, bool]:
    """(value kind, optional) of a field annotation such as `int | None` or `tuple[str, ...]`."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        kinds = [a for a in args if a is not type(None)]
        kind, _ = _resolve(kinds[0])
        return kind, type(None) in args
    if origin is tuple or annotation is tuple:
        return tuple, False
    return annotation, False


@cache
def specs(config_type: type) -> tuple[OptionSpec, ...]:
    """The options of a config class, in field order (fields without Option are skipped)."""
    hints = typing.get_type_hints(config_type)
    out = []
    for f in dataclasses.fields(config_type):
        meta = f.metadata.get("option")
        if meta is None:
            continue
        kind, optional = _resolve(hints[f.name])
        out.append(OptionSpec(f.name, kind, optional, f.default, meta))
    return tuple(out)


def check_bounds(config: Any) -> None:
    """Raise ValueError naming the first option outside its bounds or choices."""
    config_type: type = type(config)
    for s in specs(config_type):
        value = getattr(config, s.name)
        if value is None:
            if not s.optional:
                raise ValueError(f"{s.name} must be given")
            continue
        if s.kind is tuple:
            if s.meta.choices:
                bad = [v for v in value if v not in s.meta.choices and not (s.meta.model_specs and is_user_spec(v))]
                if bad:
                    more = " or a model file / torchvision:NAME / timm:NAME" if s.meta.model_specs else ""
                    raise ValueError(f"{s.name}: unknown {', '.join(map(str, bad))}; "
                                     f"choose from {', '.join(s.meta.choices)}{more}")
            # Each item costs work in every step (a model, a defence): no repeats, few items.
            repeated = sorted({v for v in value if list(value).count(v) > 1})
            if repeated:
                raise ValueError(f"{s.name}: {', '.join(map(str, repeated))} given more than once")
            if len(value) > MAX_ITEMS:
                raise ValueError(f"{s.name}: at most {MAX_ITEMS} items, not {len(value)}")
            continue
        if s.meta.choices and value not in s.meta.choices:
            raise ValueError(f"{s.name} must be one of {', '.join(s.meta.choices)}")
        if s.kind in (int, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{s.name} must be a number, not {value!r}")
            if s.kind is int and not float(value).is_integer():
                raise ValueError(f"{s.name} must be an integer, not {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{s.name} must be a finite number")
            low, high = s.meta.low, s.meta.high
            if (low is not None and (value < low or (s.meta.low_open and value == low))) or (
                    high is not None and value > high):
                raise ValueError(f"{s.name} must be in {s.bounds_text()}{' ' + s.meta.unit if s.meta.unit else ''}, "
                                 f"not {_num(value)}")


def as_tuple(value: Any) -> tuple:
    """'a, b' or ['a', 'b'] -> ('a', 'b'): tuple options accept a comma list too."""
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(value)


class OptionTextError(ValueError):
    """Text that is not a value of the option's type."""


def parse_text(spec: OptionSpec, text: str) -> Any:
    """The value a flag or a form field's text means (OptionTextError if it means none)."""
    value = text.strip()
    if spec.optional and value.lower() in ("none", "null", "auto"):
        return None
    if spec.kind is tuple:
        return as_tuple(value)
    noun = {bool: "true or false", int: "an integer", float: "a number"}.get(spec.kind)
    try:
        if spec.kind is bool:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if spec.kind is int:
            digits = value.lstrip("+-")
            if not digits.isdecimal() or not digits.isascii() or len(value) - len(digits) > 1:
                raise ValueError
            # Python's int() takes any length (and seconds for 100000 digits); no setting
            # allows 20 digits: say what is allowed instead of converting.
            if len(digits.lstrip("0")) > 19:
                bounds = spec.bounds_text()
                raise OptionTextError(f"option {spec.name} must be {'in ' + bounds if bounds else 'smaller'}, "
                                      f"not a {len(digits.lstrip('0'))}-digit number")
            return int(value)
        if spec.kind is float:
            number = float(value)
            if not math.isfinite(number):
                raise ValueError
            return number
    except OptionTextError:
        raise
    except ValueError:
        raise OptionTextError(f"option {spec.name} must be {noun}, not {text!r}") from None
    return value
