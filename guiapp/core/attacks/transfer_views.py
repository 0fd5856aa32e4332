"""What each surrogate sees of the photo in one iteration of the transfer loop.

Today's published recipe shows every surrogate its standard view (resize, centre crop),
so the noise covers only the centre crop and a service that resizes the whole photo
sees clean borders (Lite2 fed the whole photo at 260x260: 1 of 24 tuning pairs fooled).
Per surrogate and iteration, one of:

- the whole photo squashed to the input size (probability `p_full`): noise everywhere;
- a random resized crop of `rrc_min_area`..1 of the photo's area (probability `p_rrc`);
- else the standard view.

and, with `zoom_max` > 1, the content scaled by u ~ U(1, zoom_max) (a model with a larger
input, as Lite2's 297/260 against Lite0's 256/224, sees the photo larger). Measured on 24
tuning pairs at the perceptual budget (bench/quiet, docs/BENCHMARKS.md): whole-image views
took full-photo success from 1/24 to 16/24 at 8/255; zoom and random crops together added
+6/-0 pairs (crop) and +5/-0 (whole photo). All three off draws no random numbers, so the
loud preset reproduces the published loop exactly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..models import Classifier
from ..preprocess import PreprocessSpec, to_model_crop


def random_resized_crop(x: torch.Tensor, size: int, min_area: float, gen: torch.Generator) -> torch.Tensor:
    """A crop of a random share in [min_area, 1] of the photo's area (aspect 3/4..4/3),
    resized to size x size; the whole photo if ten draws do not fit."""
    h, w = x.shape[-2:]
    for _ in range(10):
        area = float(torch.empty(1).uniform_(min_area, 1.0, generator=gen)) * h * w
        ratio = math.exp(float(torch.empty(1).uniform_(math.log(3 / 4), math.log(4 / 3), generator=gen)))
        ch, cw = int(round(math.sqrt(area / ratio))), int(round(math.sqrt(area * ratio)))
        if ch <= h and cw <= w:
            top = int(torch.randint(0, h - ch + 1, (1,), generator=gen))
            left = int(torch.randint(0, w - cw + 1, (1,), generator=gen))
            x = x[..., top:top + ch, left:left + cw]
            break
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def surrogate_view(x: torch.Tensor, m: Classifier, p_full: float, p_rrc: float, min_area: float,
                   zoom_max: float, gen: torch.Generator) -> torch.Tensor:
    """The [0, 1] model-size input surrogate `m` sees of the photo x in this iteration."""
    crop = m.spec.crop
    if p_full <= 0 and p_rrc <= 0 and zoom_max <= 1.0:  # no draws: the published random stream
        return to_model_crop(x, m.spec)
    u = float(torch.rand(1, generator=gen))
    zoom = 1.0 if zoom_max <= 1.0 else float(torch.empty(1).uniform_(1.0, zoom_max, generator=gen))
    if u < p_full:
        side = int(round(crop * zoom))
        return F.interpolate(x, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
    if u < p_full + p_rrc:
        return random_resized_crop(x, crop, min_area, gen)
    if zoom != 1.0:
        return to_model_crop(x, PreprocessSpec(int(round(m.spec.resize * zoom)), crop, m.spec.mean, m.spec.std))
    return to_model_crop(x, m.spec)
