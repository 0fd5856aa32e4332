"""Form fields of an attack request -> the target class and the mode's config.

Option names are the config field names that `guiapp.core.modes.make_config` takes
(eps, max_steps, refine_steps, confidence, centroid_weight, seed; iterations, surrogates,
loss... in transfer mode), with the CLI's spellings accepted too (`steps`,
`refine-steps`, `step-size`), so a value means and is checked the same as everywhere else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from ..core.errors import GuiappError, LabelError
from ..core.labels import ImageNetClass, LabelSet
from ..core.modes import MODES, AnyConfig, config_class, make_config
from .errors import ApiError

# Fields that are not attack options.
RESERVED = ("image", "target", "mode", "centroids")
STEP_OPTIONS = ("max_steps", "iterations", "refine_steps")


@dataclass(frozen=True)
class AttackRequest:
    target: int
    target_name: str
    config: AnyConfig
    centroids: str | None  # "auto" (the server's setting) or None: term off


def label_json(c: ImageNetClass) -> dict[str, Any]:
    return {"index": c.index, "wnid": c.wnid, "name": c.name, "synonyms": list(c.synonyms)}


def resolve_target(labels: LabelSet, text: str | None) -> int:
    """Class index of `text`; 422 with the closest classes when it is unknown or ambiguous."""
    if text is None or not text.strip():
        raise ApiError(422, "missing_field", "give 'target': a class name, synonym, WordNet id or index")
    try:
        return labels.resolve(text)
    except LabelError as exc:
        candidates = [label_json(c) for c in labels.suggest(text, 10)]
        raise ApiError(422, "bad_label", str(exc), candidates=candidates) from None


def option_types(mode: str) -> dict[str, str]:
    """Option name -> its annotation as written in the config class ("int | None")."""
    return {f.name: str(f.type) for f in fields(config_class(mode)) if f.name != "mode"}


def canonical_name(name: str) -> str:
    """Config names, or the CLI's flag spellings (`steps`, `refine-steps`, `step-size`)."""
    name = name.strip().replace("-", "_")
    return "max_steps" if name == "steps" else name  # as the CLI's --steps (transfer: iterations)


def convert(name: str, text: str, annotation: str) -> Any:
    kinds = [k.strip() for k in annotation.split("|")]
    value = text.strip()
    if value.lower() in ("none", "null") and "None" in kinds:
        return None
    if annotation.startswith("tuple"):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    try:
        if "bool" in kinds:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if "int" in kinds:
            return int(value)
        if "float" in kinds:
            number = float(value)
            if not math.isfinite(number):
                raise ValueError
            return number
    except ValueError:
        kind = next(k for k in ("bool", "int", "float") if k in kinds)
        noun = {"bool": "true or false", "int": "an integer", "float": "a number"}[kind]
        raise ApiError(422, "bad_option", f"option {name} must be {noun}, not {text!r}") from None
    return value


def parse_attack_fields(fields_: dict[str, str], labels: LabelSet, max_steps: int) -> AttackRequest:
    """Validate everything before the job is queued, so a bad request costs no worker."""
    mode = (fields_.get("mode") or "default").strip().lower()
    if mode not in MODES:
        raise ApiError(422, "bad_option", f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}")
    centroids = (fields_.get("centroids") or "auto").strip().lower()
    if centroids not in ("auto", "none"):
        # Never a path: clients do not name files on the server.
        raise ApiError(422, "bad_option", "centroids must be 'auto' (the server's centroids) or 'none'")
    types = option_types(mode)
    options: dict[str, Any] = {}
    for raw_name, text in fields_.items():
        if raw_name in RESERVED or not text.strip():  # empty: the mode's default, as an HTML form sends it
            continue
        name = canonical_name(raw_name)
        if name in options:
            raise ApiError(422, "bad_option", f"option {name} given twice")
        # Unknown names go through as-is: make_config names them and lists the valid ones.
        options[name] = convert(name, text, types[name]) if name in types else text
    for name in STEP_OPTIONS:
        if isinstance(options.get(name), int) and options[name] > max_steps:
            raise ApiError(422, "bad_option", f"option {name}={options[name]} is over this server's limit of {max_steps}")
    try:
        config = make_config(mode, **options)
    except GuiappError as exc:
        raise ApiError(422, "bad_option", str(exc)) from None
    target = resolve_target(labels, fields_.get("target"))
    return AttackRequest(target, labels[target].name, config, None if centroids == "none" else "auto")
