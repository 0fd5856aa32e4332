"""How different two 8-bit images are, numerically and to the eye.

- L-inf, L2, PSNR: the size of the change (RGB, 0..255 data);
- SSIM (Wang et al. 2004): local structure, luminance and contrast;
- mean CIEDE2000 (scikit-image): the colour difference a person perceives, per pixel in
  CIELAB, averaged. About 1 is imperceptible side by side, ~2.3 a just-noticeable
  difference (Sharma et al. 2005); a grey photo with coloured noise scores high here even
  when its PSNR looks fine;
- HaarPSI (Reisenhofer et al. 2018, from piq): a structure metric in [0, 1] (1 =
  identical) built on Haar wavelet responses, which tracks human quality judgements
  better than PSNR and SSIM in its authors' tests.

The two perceptual figures cost time on large images, so they are computed on bounded
samples above a size: CIEDE2000 on an evenly spaced lattice of at most PERCEPTUAL_PIXELS
pixels (a mean, so the lattice estimates it closely), HaarPSI on both images box-averaged
by the smallest integer factor that brings them under PERCEPTUAL_PIXELS (as a person
seeing the whole image on a screen would). Below that size both are exact.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from .stop_points import stop_point

PERCEPTUAL_PIXELS = 2_000_000
_WARMING: threading.Thread | None = None


def warm_up() -> None:
    """Import the perceptual metrics' libraries in the background (piq imports torchvision's
    models, ~1-2 s), so that it overlaps an attack instead of following it."""
    global _WARMING
    if _WARMING is None:
        _WARMING = threading.Thread(target=_import_metric_libraries, name="guiapp-metrics-import", daemon=True)
        _WARMING.start()


def _import_metric_libraries() -> None:
    import piq  # noqa: F401
    import skimage.color  # noqa: F401


@dataclass(frozen=True)
class Distortion:
    linf: float  # max absolute change, in 1/255 units
    l2: float  # Euclidean norm of the change with pixels in [0, 1]
    psnr: float  # dB; inf for identical images
    ssim: float
    ciede2000: float = math.nan  # mean CIEDE2000 colour difference (0 = identical)
    haarpsi: float = math.nan  # HaarPSI similarity (1 = identical)
    # Coherent swirls on flat areas, in luma levels (flat_area_swirl): what PSNR, SSIM and
    # CIEDE2000 miss on a smooth sky. 0 where the photo has no flat area.
    flat_swirl: float = math.nan


def psnr_from_mse(mse: float) -> float:
    return math.inf if mse <= 0 else 10.0 * math.log10(255.0**2 / mse)


_WINDOW = 11
_SIGMA = 1.5


def _blur(img: np.ndarray) -> np.ndarray:
    """Separable Gaussian over H and W of (..., H, W), keeping only fully covered pixels."""
    coords = np.arange(_WINDOW, dtype=np.float32) - (_WINDOW - 1) / 2
    g = np.exp(-(coords**2) / (2 * _SIGMA**2))
    g /= g.sum()
    from scipy import ndimage  # here, not at import: scipy.ndimage costs the app ~0.4 s at start-up

    stop_point()  # a cancelled server job stops here, not after the figures (stop_points.py)
    out = ndimage.correlate1d(img, g, axis=-1, mode="nearest")
    out = ndimage.correlate1d(out, g, axis=-2, mode="nearest")
    r = _WINDOW // 2
    return out[..., r:-r, r:-r]


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM (Wang et al. 2004: 11x11 Gaussian, sigma 1.5) over the RGB channels.

    float32 with scipy's separable filters: ~0.3 s for 2 MP on two cores, where a float64
    torch conv2d took 3 s. Images are at least 32 px, wider than the window.
    """
    x = np.moveaxis(a, 2, 0).astype(np.float32)
    y = np.moveaxis(b, 2, 0).astype(np.float32)
    mx, my = _blur(x), _blur(y)
    sxx = _blur(x * x) - mx * mx
    syy = _blur(y * y) - my * my
    sxy = _blur(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(s.mean(dtype=np.float64))


def ciede2000(a: np.ndarray, b: np.ndarray) -> float:
    """Mean CIEDE2000 difference of two (H,W,3) uint8 sRGB images (see the module doc)."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    step = max(1, math.ceil(math.sqrt(a.shape[0] * a.shape[1] / PERCEPTUAL_PIXELS)))
    a, b = a[::step, ::step], b[::step, ::step]
    return float(deltaE_ciede2000(rgb2lab(a), rgb2lab(b)).mean())


def haarpsi(a: np.ndarray, b: np.ndarray) -> float:
    """HaarPSI of two (H,W,3) uint8 images (see the module doc), in [0, 1]."""
    import piq
    import torch

    if np.array_equal(a, b):
        return 1.0  # identical; piq divides 0 by 0 on a flat black pair (inf)

    def tensor(x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None].float().div_(255)
        factor = math.ceil(math.sqrt(x.shape[0] * x.shape[1] / PERCEPTUAL_PIXELS))
        return torch.nn.functional.avg_pool2d(t, factor) if factor > 1 else t

    with torch.no_grad():
        value = float(piq.haarpsi(tensor(a), tensor(b), data_range=1.0))
    return min(value, 1.0) if math.isfinite(value) else math.nan  # float error can pass 1 by 1e-7


FLAT_STD = 1.5  # luma levels: a 7x7 neighbourhood this even is "flat" (a sky, a wall)
FLAT_WINDOW = 7
SWIRL_SIGMA = 2.0  # px: pixel-level grain averages out under this blur, coherent swirls do not
SWIRL_PERCENTILE = 95


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def flat_mask(rgb: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels whose 7x7 neighbourhood has a luma std under FLAT_STD levels."""
    from scipy.ndimage import uniform_filter

    y = _luma(rgb.astype(np.float32))
    mean = uniform_filter(y, FLAT_WINDOW, mode="reflect")
    var = uniform_filter(y * y, FLAT_WINDOW, mode="reflect") - mean * mean
    return np.sqrt(np.maximum(var, 0)) < FLAT_STD


def flat_area_swirl(original: np.ndarray, adversarial: np.ndarray) -> float:
    """The noise a person sees on flat areas, in luma levels: on the pixels whose 7x7
    neighbourhood in the original has a luma std under 1.5 levels, the luma change blurred
    by a Gaussian of sigma 2 px, its 95th percentile of magnitude. Independent grain
    averages out under the blur; swirls (low-frequency structure) do not. Walked in the
    app, a sky with visible swirls scored 1.07 where PSNR, SSIM and CIEDE2000 passed
    (issue 32); 0.5 is the bar. 0.0 when the photo has no flat area."""
    from scipy.ndimage import gaussian_filter

    y0 = _luma(original.astype(np.float32))
    flat = flat_mask(original)
    if not flat.any():
        return 0.0
    change = gaussian_filter(_luma(adversarial.astype(np.float32)) - y0, SWIRL_SIGMA, mode="reflect")
    return float(np.percentile(np.abs(change[flat]), SWIRL_PERCENTILE))


def distortion(original: np.ndarray, adversarial: np.ndarray, with_ssim: bool = True,
               perceptual: bool | None = None) -> Distortion:
    """Compare two (H,W,3) uint8 images of the same size; `perceptual` (default: as
    `with_ssim`) adds mean CIEDE2000, HaarPSI and the flat-area swirl figure."""
    if original.shape != adversarial.shape:
        raise ValueError(f"shape mismatch {original.shape} vs {adversarial.shape}")
    stop_point()
    diff = adversarial.astype(np.int16) - original.astype(np.int16)
    flat = diff.ravel().astype(np.float32)
    sq = float(np.dot(flat, flat))  # exact enough: integers, summed in float32 blocks by BLAS
    return Distortion(
        linf=float(np.abs(diff).max(initial=0)),
        l2=math.sqrt(sq) / 255.0,
        psnr=psnr_from_mse(sq / diff.size),
        ssim=ssim(original, adversarial) if with_ssim else float("nan"),
        ciede2000=ciede2000(original, adversarial) if perceptual or (perceptual is None and with_ssim) else math.nan,
        haarpsi=haarpsi(original, adversarial) if perceptual or (perceptual is None and with_ssim) else math.nan,
        flat_swirl=flat_area_swirl(original, adversarial) if perceptual or (perceptual is None and with_ssim)
        else math.nan,
    )
