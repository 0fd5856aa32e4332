"""What the robust mode's loss sees each step: the image purified by one random setting of
each defence (expectation over transformations), through the defence's differentiable
stand-in, where a defender applies it: to the file at its own size (then the model's
resize and crop) and to the model's 8-bit view.

A slow purifier (Deep Image Prior) cannot run in every step. Its stand-in (a blur) is
linearised around the real thing once it has been run on some image (an anchor): the
view is DIP(anchor) + blur(v) - blur(anchor), so the loss sees the real purifier's output
and the stand-in supplies only how it changes (BPDA with a forward pass refreshed at each
real check). The first anchor is the clean image's view; each real check replaces it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..preprocess import PreprocessSpec, image_to_tensor, to_model_crop
from .base import Defence


def round8(v: torch.Tensor) -> torch.Tensor:
    """8-bit rounding with a straight-through gradient."""
    return v + (torch.round(v * 255) / 255 - v).detach()


def clamp01(v: torch.Tensor) -> torch.Tensor:
    """Clamped to [0, 1] with a straight-through gradient. torch's clamp passes no gradient
    at the bounds themselves, so a pixel at exactly 0 or 255 would never move: a black or
    white image got no noise at all, and a photo's blown highlights none either."""
    return v + (v.clamp(0, 1) - v).detach()


class Anchors:
    """The real slow purifiers' outputs on some views: defence label -> (input, output)."""

    def __init__(self) -> None:
        self.pairs: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def set(self, defence: Defence, view: np.ndarray, purified: np.ndarray, device: torch.device) -> None:
        self.pairs[defence.label] = (image_to_tensor(view, device), image_to_tensor(purified, device))

    def estimate(self, setting: Defence, v: torch.Tensor) -> torch.Tensor:
        pair = self.pairs.get(setting.label)
        if pair is None:
            return setting.estimate(v)
        anchor_in, anchor_out = pair
        both = setting.estimate(torch.cat([v, anchor_in]))  # one call: the same random strength
        return (anchor_out + both[:1] - both[1:].detach()).clamp(0, 1)


def purified_views(x_file: torch.Tensor, v: torch.Tensor, spec: PreprocessSpec, defences: Sequence[Defence],
                   levels: Sequence[str], rng: np.random.Generator,
                   anchors: Anchors | None = None) -> list[torch.Tensor]:
    """The purified 224-px views of one step (in [0, 1]): per defence one setting drawn from
    `rng`, at each of `levels` it is checked at. `x_file`: the 8-bit image at its own size;
    `v`: its 8-bit model view."""
    views = []
    # Both levels every step: letting them take turns halves the views but, on 8 held-out
    # photos, doubled the steps (candidates that held one level failed the other).
    for d in defences:
        setting = d.sample(rng)
        if "file" in levels and "file" in d.levels:
            views.append(round8(to_model_crop(setting.estimate(x_file), spec)))
        if "view" in levels and "view" in d.levels:
            views.append(anchors.estimate(setting, v) if anchors is not None and d.slow else setting.estimate(v))
    return views
