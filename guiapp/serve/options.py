"""Form fields of an attack request -> the target class and the mode's config.

Option names are the config field names that `guiapp.core.attacks.make_config` takes
(eps, max_steps, refine_steps, confidence, centroid_weight, seed; iterations, surrogates,
loss... in transfer mode), with the CLI's spellings accepted too (`steps`,
`refine-steps`, `step-size`); values are parsed and bounded by the same option metadata
(guiapp.core.options), so a value means and is checked the same as everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.attacks import MODES, make_config, options_of
from ..core.attacks.query_strategy import check_victim_allowed
from ..core.errors import GuiappError, LabelError
from ..core.labels import ImageNetClass, LabelSet
from ..core.options import OptionTextError, parse_text
from .errors import ApiError

# Fields that are not attack options.
RESERVED = ("image", "target", "mode", "centroids", "preset", "model")


@dataclass(frozen=True)
class AttackRequest:
    target: int
    target_name: str
    config: Any  # the mode's config
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


def canonical_name(name: str) -> str:
    """Config names, or the CLI's flag spellings (`steps`, `refine-steps`, `step-size`)."""
    name = name.strip().replace("-", "_")
    by_flag = {s.flag.lstrip("-").replace("-", "_"): s.name for mode in MODES for s in options_of(mode)}
    return by_flag.get(name, name)


def parse_attack_fields(fields_: dict[str, str], labels: LabelSet, max_steps: int,
                        model_name: str | None = None, allowed_victims: tuple[str, ...] = ()) -> AttackRequest:
    """Validate everything before the job is queued, so a bad request costs no worker.
    `model_name`: the server's model; a 'model' field may only repeat it. `allowed_victims`:
    the query mode's victims the operator allows (none: the mode is refused)."""
    asked = (fields_.get("model") or "").strip()
    if asked and asked != model_name:
        # The model is loaded once, when the server starts; the transfer mode's crafting
        # models are the one choice a client has.
        raise ApiError(422, "bad_option", f"this server attacks {model_name}, chosen when it started "
                       f"(guiapp-cli serve --model); it cannot switch to {asked[:60]!r} per request. In transfer "
                       "mode, choose the crafting models with 'surrogates'")
    mode = (fields_.get("mode") or "default").strip().lower()
    if mode not in MODES:
        raise ApiError(422, "bad_option", f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}")
    centroids = (fields_.get("centroids") or "auto").strip().lower()
    if centroids not in ("auto", "none"):
        # Never a path: clients do not name files on the server.
        raise ApiError(422, "bad_option", "centroids must be 'auto' (the server's centroids) or 'none'")
    specs = {s.name: s for s in options_of(mode)}
    options: dict[str, Any] = {}
    for raw_name, text in fields_.items():
        if raw_name in RESERVED or not text.strip():  # empty: the mode's default, as an HTML form sends it
            continue
        name = canonical_name(raw_name)
        if name in options:
            raise ApiError(422, "bad_option", f"option {name} given twice")
        try:
            # Unknown names go through as-is: make_config names them and lists the valid ones.
            options[name] = parse_text(specs[name], text) if name in specs else text
        except OptionTextError as exc:
            raise ApiError(422, "bad_option", str(exc)) from None
    for name, value in options.items():
        if name in specs and specs[name].meta.counts_steps and isinstance(value, int) and value > max_steps:
            raise ApiError(422, "bad_option", f"option {name}={value} is over this server's limit of {max_steps}")
    preset = (fields_.get("preset") or "").strip().lower() or None
    if mode == "query" and any(canonical_name(k) == "victim_header" for k in fields_):
        # A header is expanded from the server's environment: a client could send its secrets out.
        raise ApiError(403, "victim_not_allowed", "victim_header is the operator's to set, not a client's")
    try:
        config = make_config(mode, preset=preset, **options)
    except GuiappError as exc:  # a bad option, or a query without a victim: the client's to fix
        raise ApiError(422, "bad_option", str(exc)) from None
    if mode == "query":
        try:
            check_victim_allowed(config.victim, allowed_victims)
        except GuiappError as exc:  # a victim the operator does not allow
            raise ApiError(403, "victim_not_allowed", str(exc)) from None
    target = resolve_target(labels, fields_.get("target"))
    return AttackRequest(target, labels[target].name, config, None if centroids == "none" else "auto")
