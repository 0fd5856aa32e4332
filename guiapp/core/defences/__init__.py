"""Purification defences: what a defender does to an image before classifying it.

Each is a `Defence` (guiapp.core.defences.base): the real operation on 8-bit images and a
differentiable estimate for attacks that must survive it. They act on the image the model
actually sees — the 224x224 centre crop of the standard preprocessing (`model_view`) — as
in the purification study (224 -> 112 -> 224). A new defence is a function (here or in a
module of its own) and one entry in DEFENCES.

PPGN and the context encoder of the study need pretrained generators that cannot be
shipped or downloaded here; they are listed in UNAVAILABLE and never faked.
"""

from __future__ import annotations

from ..errors import GuiappError
from .base import Defence, model_view, straight_through
from .dip import deep_image_prior
from .filters import bitdepth, jpeg, median, rescale, rescale_estimate

DEFENCES: dict[str, Defence] = {
    "rescale": Defence("rescale", rescale, {"factor": 0.5}, "downscale x0.5 and back (224->112->224)",
                       rescale_estimate),
    "jpeg": Defence("jpeg", jpeg, {"quality": 75}, "JPEG re-encoding at quality 75"),
    "bitdepth": Defence("bitdepth", bitdepth, {"bits": 4}, "reduce to 4 bits per channel"),
    "median": Defence("median", median, {"size": 3}, "3x3 median filter"),
    "dip": Defence("dip", deep_image_prior, {"iterations": 400},
                   "Deep Image Prior, 400 iterations (~37 s per 224-px image on 2 CPU cores)"),
}

# Bounds of every parameter a user (or an HTTP client, in robust mode) may set: each keeps
# one application short (a median window of 10**6 or a rescale factor of 10**6 would not).
BOUNDS: dict[tuple[str, str], tuple[float, float]] = {
    ("rescale", "factor"): (0.01, 1.0),
    ("jpeg", "quality"): (1, 100),
    ("bitdepth", "bits"): (1, 8),
    ("median", "size"): (1, 15),  # odd (PIL's median filter)
    ("dip", "iterations"): (1, 5000),
}

UNAVAILABLE = {
    "ppgn": "needs a pretrained PPGN generator (Nguyen et al. 2017); none can be shipped or downloaded here",
    "context-encoder": "needs a pretrained context-encoder inpainting network (Pathak et al. 2016); not available",
}


def parse_defences(text: str) -> list[Defence]:
    """'rescale,jpeg:quality=50,dip:iterations=100' -> configured defences."""
    chosen = []
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        name, _, args = part.partition(":")
        name = name.strip().lower()
        if name in UNAVAILABLE:
            raise GuiappError(f"defence {name!r} is not available: {UNAVAILABLE[name]}")
        if name not in DEFENCES:
            raise GuiappError(f"unknown defence {name[:40]!r}; choose from {', '.join(DEFENCES)}")
        base = DEFENCES[name]
        params = dict(base.params)
        for kv in [a for a in args.split(";") if a]:
            key, _, value = kv.partition("=")
            if key not in params:
                raise GuiappError(f"defence {name} has no parameter {key[:40]!r} (it has {', '.join(params)})")
            kind = type(params[key])
            try:
                number = kind(value.strip())
            except ValueError:
                noun = "an integer" if kind is int else "a number"
                raise GuiappError(f"defence {name}: {key} must be {noun}, not {value[:40]!r}") from None
            low, high = BOUNDS[(name, key)]
            if not low <= number <= high:  # NaN too
                raise GuiappError(f"defence {name}: {key} must be in [{low:g}, {high:g}], not {value.strip()[:40]}")
            if (name, key) == ("median", "size") and number % 2 == 0:
                raise GuiappError(f"defence median: size must be odd, not {number}")
            params[key] = number
        chosen.append(base.with_params(**params))
    if not chosen:
        raise GuiappError("no defences given")
    return chosen


__all__ = ["DEFENCES", "UNAVAILABLE", "Defence", "bitdepth", "deep_image_prior", "jpeg", "median", "model_view",
           "parse_defences", "rescale", "straight_through"]
