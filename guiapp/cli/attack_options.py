"""The attack flags of `attack` and `batch`, generated from the config classes' metadata.

Every option of every mode becomes one flag (guiapp.core.options): its help, unit, bounds
and per-mode defaults come from the config field, so a new option is a new field and
nothing here changes. Flags default to None, meaning "the chosen mode's default"; a flag
the chosen mode does not take is an error that names the modes that do.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..core.attacks import MODES, STRATEGIES, make_config, modes_with, options_of, presets_of
from ..core.errors import GuiappError
from ..core.options import OptionSpec, OptionTextError, parse_text


def _flags() -> dict[str, list[tuple[str, OptionSpec]]]:
    """flag -> [(mode, spec)] over every mode, in the order the modes declare them."""
    found: dict[str, list[tuple[str, OptionSpec]]] = {}
    for mode in MODES:
        for spec in options_of(mode):
            found.setdefault(spec.flag, []).append((mode, spec))
    return found


def _help(entries: list[tuple[str, OptionSpec]]) -> str:
    spec = entries[0][1]
    unit = f" ({spec.meta.unit})" if spec.meta.unit else ""
    bounds = f", in {spec.bounds_text()}" if spec.bounds_text() else ""
    defaults = {mode: s.describe_default() for mode, s in entries}
    values = list(defaults.values())
    common = max(set(values), key=values.count)
    default = "default " + "; ".join([common or "none"]
                                     + [f"{v or 'none'} in {m} mode" for m, v in defaults.items() if v != common])
    only = "" if len(entries) == len(MODES) else f" [{'/'.join(m for m, _ in entries)}]"
    choices = f"; one of {','.join(spec.meta.choices)}" if spec.meta.choices and spec.kind is not tuple else ""
    return f"{spec.meta.help}{unit}{choices} ({default}{bounds}){only}".replace("%", "%%")


def _parser_type(spec: OptionSpec):
    def convert(text: str) -> Any:
        try:
            return parse_text(spec, text)
        except OptionTextError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = spec.kind.__name__  # argparse names the type in its messages
    return convert


def add_attack_args(p: argparse.ArgumentParser) -> None:
    """Attack settings shared by `attack` and `batch`."""
    p.add_argument("--mode", choices=MODES, default=None,
                   help="; ".join(f"{m}: {STRATEGIES[m].summary.rstrip('.')}" for m in MODES))
    p.add_argument("--robust", action="store_true", help="same as --mode robust")
    presets = {m: list(presets_of(m)) for m in MODES if presets_of(m)}
    p.add_argument("--preset", default=None, choices=sorted({n for names in presets.values() for n in names}),
                   help="named settings of the mode, under any option given explicitly ("
                        + "; ".join(f"{m}: {', '.join(n)}, default {n[0]}" for m, n in presets.items())
                        + "); transfer's loud preset is the published 16/255 recipe, stronger and visible")
    p.add_argument("--centroids", default="auto",
                   help="centroid file, 'auto' (shipped) or 'none'; in transfer mode a folder of <surrogate>.npz files")
    group = p.add_argument_group("attack options (each mode takes its own; defaults chosen by the benchmarks)")
    for flag, entries in _flags().items():
        spec = entries[0][1]
        group.add_argument(flag, dest=f"opt_{spec.name}", type=_parser_type(spec), default=None,
                           help=_help(entries), metavar=spec.kind.__name__.upper() if spec.kind is not tuple else "A,B")


def mode_from_args(args: argparse.Namespace) -> str:
    if args.robust and args.mode not in (None, "robust"):
        raise GuiappError(f"--robust is the same as --mode robust; it cannot be combined with --mode {args.mode}")
    return "robust" if args.robust else (args.mode or "default")


def _where(modes: list[str]) -> str:
    if len(modes) == 1:
        return f"--mode {modes[0]}"
    return f"the {', '.join(modes[:-1])} and {modes[-1]} modes"


def config_from_args(args: argparse.Namespace) -> Any:
    mode = mode_from_args(args)
    taken = {s.name for s in options_of(mode)}
    given = {flag: (entries[0][1].name, getattr(args, f"opt_{entries[0][1].name}"))
             for flag, entries in _flags().items()}
    wrong = [flag for flag, (name, value) in given.items() if value is not None and name not in taken]
    if wrong:
        where = _where(modes_with(given[wrong[0]][0]))
        raise GuiappError(f"{', '.join(wrong)} only {'applies' if len(wrong) == 1 else 'apply'} to {where}")
    return make_config(mode, preset=args.preset, **{name: value for name, value in given.values() if name in taken})


def centroids_arg(value: str) -> str | None:
    return None if value.lower() == "none" else value
