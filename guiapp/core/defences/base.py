"""A purification defence: the real operation on 8-bit images, its differentiable
stand-in for attacks that must survive it (as ART's preprocessors own `estimate_forward`),
and the range of settings an adaptive attack takes the expectation over.

The real operation is what a defender runs (PIL's resize, libjpeg, a denoising network...);
most have no useful gradient. `estimate(v)` is what an attack differentiates instead: an
exact differentiable copy where one exists (rescaling, the median filter, a denoising
network), otherwise the real forward pass with a stand-in's gradient (BPDA, Athalye et al.
2018: identity for JPEG, a smoothed staircase for bit-depth reduction), so the loss is
that of the real purified image whenever the real operation is cheap enough to run.

A defender applies a purifier at one of two places (`LEVELS`):
- "file": to the file at its own resolution (JPEG of the whole upload, a 2x down/up of the
  whole image, ...), then the model's standard preprocessing (the realistic case);
- "view": to the model's 8-bit 224-px view (`model_view`), as the purification study does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..preprocess import PreprocessSpec, image_to_tensor, tensor_to_image

Estimate = Callable[[torch.Tensor, dict[str, Any]], torch.Tensor]
LEVELS = ("file", "view")


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
    `defence.estimate(v)` is its differentiable stand-in on (N,3,H,W) floats in [0,1].

    `ranges` (param -> the values an adaptive attack samples from) and `checks` (param ->
    the values a result is verified against) describe the defender's possible settings;
    fixing a parameter (`with_params`, or 'jpeg:quality=60') narrows both to that value.
    `slow`: too slow to run in every step of an attack (its stand-in runs instead, and the
    real operation only on the final candidates); its function takes `cancel=` (a
    threading.Event, checked every iteration) so that a cancelled attack is not held.
    `cost`: what one application costs.
    `levels`: where results are checked against it (DIP: the view only; a whole file
    takes minutes)."""

    name: str
    fn: Callable[..., np.ndarray]
    params: dict[str, Any]
    description: str
    differentiable: Estimate | None = field(default=None, compare=False)
    ranges: dict[str, tuple] = field(default_factory=dict, compare=False)
    checks: dict[str, tuple] = field(default_factory=dict, compare=False)
    cost: str = field(default="", compare=False)
    slow: bool = field(default=False, compare=False)
    levels: tuple[str, ...] = field(default=LEVELS, compare=False)  # where a result is checked against it

    def __call__(self, image: np.ndarray, **overrides: Any) -> np.ndarray:
        return self.fn(image, **{**self.params, **overrides})

    @property
    def label(self) -> str:
        args = ",".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.name}({args})"

    @property
    def short(self) -> str:
        """A compact name of this setting for tables: 'jpeg-50', 'median-5', 'rescale'."""
        varied = [k for k in self.params if k in self.checks or k in self.ranges]
        return "-".join([self.name, *(f"{self.params[k]:g}" for k in varied)])

    def with_params(self, **params: Any) -> Defence:
        """The same defence with `params` fixed (their ranges and checks narrowed to them)."""
        return Defence(self.name, self.fn, {**self.params, **params}, self.description, self.differentiable,
                       {k: (params[k],) if k in params else v for k, v in self.ranges.items()},
                       {k: (params[k],) if k in params else v for k, v in self.checks.items()}, self.cost, self.slow,
                       self.levels)

    def _pinned(self, **params: Any) -> Defence:
        """One setting of this defence, remembering its ranges (so `short` names the setting)."""
        return Defence(self.name, self.fn, {**self.params, **params}, self.description, self.differentiable,
                       self.ranges, self.checks, self.cost, self.slow, self.levels)

    def sample(self, rng: np.random.Generator) -> Defence:
        """A random setting from `ranges` (expectation over transformations)."""
        if not self.ranges:
            return self
        return self._pinned(**{k: v[int(rng.integers(len(v)))] for k, v in self.ranges.items()})

    def settings(self) -> Iterator[Defence]:
        """Every setting a result is checked against: the product of `checks`."""
        combos: list[dict[str, Any]] = [{}]
        for key, values in self.checks.items():
            combos = [{**c, key: v} for c in combos for v in values]
        for combo in combos:
            yield self._pinned(**combo)

    def estimate(self, v: torch.Tensor) -> torch.Tensor:
        """The purified batch, differentiable in `v` (8-bit valued floats in [0, 1])."""
        if self.differentiable is not None:
            return self.differentiable(v, self.params)
        return straight_through(v, self)


def real_forward(v: torch.Tensor, purify: Callable[[np.ndarray], np.ndarray]) -> torch.Tensor:
    """The real purification of every image of the batch (no gradient)."""
    with torch.no_grad():
        return torch.cat([image_to_tensor(purify(tensor_to_image(v[i : i + 1])), v.device) for i in range(len(v))])


def straight_through(v: torch.Tensor, purify: Callable[[np.ndarray], np.ndarray],
                     surrogate: torch.Tensor | None = None) -> torch.Tensor:
    """The real purification of every image of the batch, with the gradient of
    `surrogate` (a differentiable approximation of it; default: the identity)."""
    real = real_forward(v, purify)
    via = v if surrogate is None else surrogate
    return via + (real - via).detach()
