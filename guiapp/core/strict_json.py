"""Strict JSON for every report we print or write: RFC 8259 has no NaN or Infinity
(JSON.parse and most parsers refuse them), so a figure that does not exist is null."""

from __future__ import annotations

import json
import math
from typing import Any


def json_safe(value: Any) -> Any:
    """`value` with every NaN or infinite float (at any depth) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def strict_dumps(value: Any, **kwargs: Any) -> str:
    """json.dumps of `value` made JSON-safe (never a bare NaN in the text)."""
    return json.dumps(json_safe(value), allow_nan=False, **kwargs)
