"""A run as the `guiapp-cli attack` line that repeats it (the window's *Copy as command*).

The line names the mode, the model (its spec: `Classifier.name` re-creates it) and every
option whose value is not what the CLI would use without a flag, written the way the
CLI's own parser reads it (options.parse_text): tuples comma-joined, booleans true/false,
floats in full (repr), so parsing the line gives the same config. A preset is not named:
its values are spelt out, so the line stays right if a preset's values change later.
"""

from __future__ import annotations

import shlex
from typing import Any

from .attacks import options_of
from .imageio import MAX_PIXELS
from .models import DEFAULT_MODEL


def _text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def attack_command(image: str, target: str, config: Any, *, model: str = DEFAULT_MODEL,
                   output: str | None = None, max_pixels: int = MAX_PIXELS) -> str:
    """The shell line (quoted for a POSIX shell) that runs this attack from the CLI."""
    mode = config.mode
    parts = ["guiapp-cli", "attack", image, "-t", target]
    if mode != "default":
        parts += ["--mode", mode]
    # The model only matters where it crafts: the transfer and query modes name theirs in
    # --surrogates (an option, below).
    if model != DEFAULT_MODEL and "surrogates" not in {s.name for s in options_of(mode)}:
        parts += ["--model", model]
    for spec in options_of(mode):  # a field's default is what the CLI runs without its flag
        value = getattr(config, spec.name)
        if value != spec.default:
            parts += [spec.flag, _text(value)]
    if max_pixels != MAX_PIXELS:
        parts += ["--max-pixels", str(max_pixels)]
    if output:
        parts += ["-o", output]
    return shlex.join(parts)
