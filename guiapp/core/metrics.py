"""How different two 8-bit images are: L-inf, L2, PSNR and SSIM (all on RGB, 0..255 data)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Distortion:
    linf: float  # max absolute change, in 1/255 units
    l2: float  # Euclidean norm of the change with pixels in [0, 1]
    psnr: float  # dB; inf for identical images
    ssim: float


def psnr_from_mse(mse: float) -> float:
    return math.inf if mse <= 0 else 10.0 * math.log10(255.0**2 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004: 11x11 Gaussian, sigma 1.5) over the RGB channels."""
    x = torch.from_numpy(np.ascontiguousarray(a)).double().permute(2, 0, 1).unsqueeze(1)
    y = torch.from_numpy(np.ascontiguousarray(b)).double().permute(2, 0, 1).unsqueeze(1)
    g = _gaussian_window()  # images are at least 32 px (imageio.MIN_SIDE), wider than the window
    gx, gy = g.view(1, 1, 1, -1), g.view(1, 1, -1, 1)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(t, gx), gy)

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(s.mean())


def distortion(original: np.ndarray, adversarial: np.ndarray, with_ssim: bool = True) -> Distortion:
    """Compare two (H,W,3) uint8 images of the same size."""
    if original.shape != adversarial.shape:
        raise ValueError(f"shape mismatch {original.shape} vs {adversarial.shape}")
    diff = adversarial.astype(np.int32) - original.astype(np.int32)
    mse = float(np.mean(diff.astype(np.float64) ** 2))
    return Distortion(
        linf=float(np.abs(diff).max(initial=0)),
        l2=float(np.sqrt(np.sum((diff / 255.0) ** 2))),
        psnr=psnr_from_mse(mse),
        ssim=ssim(original, adversarial) if with_ssim else float("nan"),
    )
