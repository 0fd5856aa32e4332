"""A purification defence: the real operation on 8-bit images, and its differentiable
estimate for attacks that must survive it (as ART's preprocessors own `estimate_forward`).

The real operation is what a defender runs (PIL's resize, libjpeg...); it has no useful
gradient. `estimate(v)` is what an attack differentiates instead: an exact differentiable
copy where one exists (rescaling), otherwise the real forward pass with an identity
gradient (BPDA, Athalye et al. 2018), so the loss is always that of the real purified image.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..preprocess import PreprocessSpec, image_to_tensor, tensor_to_image

Estimate = Callable[[torch.Tensor, dict[str, Any]], torch.Tensor]


def model_view(image: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """The 8-bit crop the model sees: PIL bilinear resize of the short side, centre crop."""
    img = Image.fromarray(image)
    h, w = image.shape[:2]
    rh, rw = spec.resized_size(h, w)
    if (rh, rw) != (h, w):
        img = img.resize((rw, rh), Image.Resampling.BILINEAR)
    top, left = spec.crop_box(h, w)
    return np.asarray(img)[top : top + spec.crop, left : left + spec.crop].copy()


@dataclass(frozen=True)
class Defence:
    """A configured defence: `defence(image)` purifies an (H,W,3) uint8 array;
    `defence.estimate(v)` is its differentiable stand-in on (N,3,H,W) floats in [0,1]."""

    name: str
    fn: Callable[..., np.ndarray]
    params: dict[str, Any]
    description: str
    differentiable: Estimate | None = field(default=None, compare=False)

    def __call__(self, image: np.ndarray, **overrides: Any) -> np.ndarray:
        return self.fn(image, **{**self.params, **overrides})

    @property
    def label(self) -> str:
        args = ",".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.name}({args})"

    def with_params(self, **params: Any) -> Defence:
        return Defence(self.name, self.fn, {**self.params, **params}, self.description, self.differentiable)

    def estimate(self, v: torch.Tensor) -> torch.Tensor:
        """The purified batch, differentiable in `v` (8-bit valued floats in [0, 1])."""
        if self.differentiable is not None:
            return self.differentiable(v, self.params)
        return straight_through(v, self)


def straight_through(v: torch.Tensor, purify: Callable[[np.ndarray], np.ndarray]) -> torch.Tensor:
    """The real purification of every image of the batch, with an identity gradient."""
    real = torch.cat([image_to_tensor(purify(tensor_to_image(v[i : i + 1])), v.device) for i in range(len(v))])
    return v + (real - v).detach()
