"""Where the transfer noise may go: the budget the loop's sign steps are kept inside.

The loop holds its noise as `z` and asks its budget for the picture the surrogates see,
the size of one step and the projection back into the budget. Two budgets:

- `LinfBudget` ("linf"): z is the RGB change itself, inside one L-inf box of `eps`/255 and
  the valid pixel range; steps of `alpha`/255 (MI-FGSM as published). Loud: at 16/255 the
  noise is plainly visible (median 25 dB, CIEDE2000 8).
- `PerceptualBudget` ("perceptual"): z is a change of luma only (one channel, added
  equally to R, G and B: no colour noise) whose bound is the per-photo luma map of
  guiapp.core.perceptual_budget, at the energy `budget_psnr` and SSIM floor `min_ssim`,
  each pixel capped at `eps`; every step moves each pixel by 1/8 of its own bound, so flat
  areas get next to nothing. Pixels are clamped to [0, 1] in the forward pass with the
  gradient passed straight through, so the map, not the pixel range, decides where the
  noise goes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch

from ..defences.eot import clamp01
from ..perceptual_budget import adaptive_luma_map

PERCEPTUAL_STEP = 1 / 8  # each step moves a pixel by this fraction of its own bound
NOTE_DB = 0.5  # the report notes an energy cut from this much on
PATTERN_SIGMA_PER_TI = 0.21  # blob size of the SSIM predictor's stand-in, per TI-kernel pixel


class NoiseBudget(ABC):
    """The set the noise lives in, and the loop's moves inside it."""

    note: str = ""  # what the budget chose for this photo that the report should say

    @abstractmethod
    def zeros(self) -> torch.Tensor:
        """The starting noise (requires grad)."""

    @abstractmethod
    def adversarial(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The differentiable [0, 1] picture x + noise."""

    @abstractmethod
    def step(self, z: torch.Tensor, direction: torch.Tensor, x: torch.Tensor) -> None:
        """One signed step against `direction` (the momentum), then back inside the budget (in place)."""

    @abstractmethod
    def rgb(self, z: torch.Tensor) -> torch.Tensor:
        """The RGB change of noise z."""

    @abstractmethod
    def saturate(self, z: torch.Tensor, direction: torch.Tensor, window: tuple[slice, slice], x: torch.Tensor) -> None:
        """Inside `window` (rows, columns), the noise at the budget's edge against `direction`
        (in place): the query mode's patch proposals, shaped like the crafted noise (which is
        mostly at its bounds after the loop's signed steps)."""

    @abstractmethod
    def set_scale(self, factor: float) -> None:
        """Allow `factor` times the budget's own noise from now on (>= 1; the query mode's
        search grows it while its victim disagrees). Noise already inside stays as it is."""


class LinfBudget(NoiseBudget):
    def __init__(self, x: torch.Tensor, eps: float, alpha: float) -> None:
        self.x, self.eps, self.alpha = x, eps / 255, alpha / 255
        self._eps, self._alpha = self.eps, self.alpha

    def set_scale(self, factor: float) -> None:
        self.eps, self.alpha = min(1.0, self._eps * factor), self._alpha * factor

    def zeros(self) -> torch.Tensor:
        return torch.zeros_like(self.x, requires_grad=True)

    def adversarial(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return x + z

    def step(self, z: torch.Tensor, direction: torch.Tensor, x: torch.Tensor) -> None:
        z -= self.alpha * direction.sign()
        z.clamp_(-self.eps, self.eps)
        torch.maximum(z, -x, out=z)
        torch.minimum(z, 1 - x, out=z)

    def rgb(self, z: torch.Tensor) -> torch.Tensor:
        return z

    def saturate(self, z: torch.Tensor, direction: torch.Tensor, window: tuple[slice, slice], x: torch.Tensor) -> None:
        rows, cols = window
        z[..., rows, cols] = -self.eps * direction[..., rows, cols].sign()
        torch.maximum(z, -x, out=z)
        torch.minimum(z, 1 - x, out=z)


class PerceptualBudget(NoiseBudget):
    def __init__(self, image: np.ndarray, x: torch.Tensor, *, psnr: float, min_ssim: float, cap: float,
                 ti_size: int) -> None:
        sigma = max(0.7, PATTERN_SIGMA_PER_TI * ti_size)
        luma, chosen = adaptive_luma_map(image, psnr, min_ssim, cap, sigma)
        # A flat photo: even noise only on its edges would cost too much SSIM. (A few tenths of
        # a dB come from the search's last bisection step and are not worth a note.)
        if chosen["psnr"] >= psnr + NOTE_DB:
            self.note = (f"perceptual budget: this photo is too flat for {psnr:g} dB of hidden noise; held to "
                         f"{chosen['psnr']:.1f} dB to keep SSIM >= {min_ssim:g} (less transfer; a lower min_ssim "
                         "or the loud preset allows more)")
        # z is the luma change alone, (1, 1, H, W): JPEG's YCbCr inverse adds a luma change
        # equally to R, G and B, and the chroma bound is zero. One channel instead of three
        # (luma, chroma, chroma) with two pinned at zero: a third of the TI smoothing and of
        # the step's arithmetic, the same noise (the momentum is then normalised by the luma
        # gradient alone, as the gradient of the variable the loop moves).
        self.bound = luma.to(x.device) / 255.0
        self._bound, self._cap = self.bound, cap / 255.0

    def set_scale(self, factor: float) -> None:
        # Every pixel's bound grows alike (flat areas stay at none), each still under the cap.
        self.bound = (self._bound * factor).clamp(max=self._cap)

    def zeros(self) -> torch.Tensor:
        return torch.zeros_like(self.bound, requires_grad=True)

    def rgb(self, z: torch.Tensor) -> torch.Tensor:
        return z.expand(-1, 3, -1, -1)

    def adversarial(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        raw = x + z  # broadcast over R, G, B
        return clamp01(raw)  # clamped, the gradient passed straight through

    def saturate(self, z: torch.Tensor, direction: torch.Tensor, window: tuple[slice, slice], x: torch.Tensor) -> None:
        rows, cols = window
        z[..., rows, cols] = -self.bound[..., rows, cols] * direction[..., rows, cols].sign()

    def step(self, z: torch.Tensor, direction: torch.Tensor, x: torch.Tensor) -> None:
        z -= PERCEPTUAL_STEP * self.bound * direction.sign()
        torch.minimum(z, self.bound, out=z)
        torch.maximum(z, -self.bound, out=z)
