"""The perceptual budget: how much noise each pixel may carry so that a person does not see it.

One L-inf box spends the same noise on a blue sky as on grass. People (and SSIM) see
noise on flat areas and miss it in texture, and they see colour noise on a grey photo
long before the same energy of brightness noise. So the perceptual budget is

* **luma only**: the noise is a brightness change (R, G and B move alike), never a colour
  change; measured on 24 tuning photos it cut the mean CIEDE2000 colour difference from
  3.3 to 1.5 at the same PSNR and bought no less transfer (bench/quiet, docs/BENCHMARKS.md);
* **shaped per photo** as (2 sigma(p)^2 + C2)^gamma, sigma the local standard deviation in
  SSIM's window: gamma 0 is even noise, larger gammas push it into texture and off flat
  areas. For noise of local deviation s independent of the image, SSIM's contrast term in
  a window is (2 sigma^2 + C2) / (2 sigma^2 + s^2 + C2), so gamma 0.5 costs every window
  the same SSIM;
* **held to an energy** (a PSNR of the noise at its bound) and a per-pixel cap.

`adaptive_luma_map` picks, per photo, the most even shape (smallest gamma) whose
predicted SSIM stays above a floor: a textured photo takes even noise, a candle on black
gets it only on its edges; if even gamma_max misses the floor, the energy is lowered.
The prediction adds a stand-in of the attack's noise (the signs of blurred white noise,
blob-sized like TI-smoothed sign steps) at the bound and measures SSIM: on 24 tuning
photos it matched the attack's final SSIM to a median error of 0.001.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .metrics import ssim
from .stop_points import stop_point

C2 = (0.03 * 255) ** 2  # SSIM's stabiliser of the contrast term (8-bit units)
SSIM_SIGMA = 1.5  # SSIM's Gaussian window
SEARCH_STEPS = 7  # bisection steps over gamma (or the energy)
SAMPLE_PIXELS = 1_000_000  # larger photos: the search looks at tiles adding up to about this many pixels
TILE = 256
# px over which the noise rises from none (flat areas) to the map's own, quadratically: the
# swirl figure's blur (sigma 2 px) carries noise that close onto the flat side. On 8 tuning
# photos with flat areas, the attack's stand-in pattern at the bound scored at most 0.13
# (0.96 with no guard at all, 0.48 with a linear ramp over 6 px). 8 px, not 6: a photo whose
# flat area is a few specks inside texture (a koala's fur: 0.003% of its pixels) scored 0.53
# at 6 px, each speck within the blur's reach of texture on every side; its noise, held to
# 8 px, scores 0.38 at the same PSNR (32.8 dB).
FLAT_MARGIN = 8.0


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W) over +-4 sigma, edges mirrored (as torch's
    "reflect" padding). scipy's 1-D correlation in float64: 10x faster on a CPU than a
    grouped conv2d in float64 (12 MP: ~1.5 s instead of 15 s), the same values to 1e-13."""
    from scipy import ndimage

    r = max(1, int(round(4 * sigma)))
    c = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-0.5 * (c / sigma) ** 2)
    k /= k.sum()
    stop_point()  # seconds on a large photo: a cancelled server job stops here (stop_points.py)
    out = ndimage.correlate1d(x.double().numpy(), k, axis=-1, mode="mirror")
    out = ndimage.correlate1d(out, k, axis=-2, mode="mirror")
    return torch.from_numpy(out).to(x.dtype)


def local_std(rgb: np.ndarray) -> torch.Tensor:
    """(1, 1, H, W): the smallest of the three channels' local standard deviations in SSIM's
    window (8-bit units). A luma change moves every channel; the flattest one shows it."""
    x = torch.tensor(rgb, dtype=torch.float64).permute(2, 0, 1)[None]
    m = gaussian_blur(x, SSIM_SIGMA)
    var = (gaussian_blur(x * x, SSIM_SIGMA) - m * m).clamp_min(0)
    return var.sqrt().amin(1, keepdim=True)


def flat_guard(rgb: np.ndarray) -> torch.Tensor:
    """(1, 1, H, W) in [0, 1]: 0 on flat areas (metrics.flat_mask: a sky, a white wall),
    rising to 1 (quadratically) over FLAT_MARGIN px away from them. Even the quietest noise
    shows there as swirls once the TI-smoothed pattern is coherent (a sky scored 1.07 on the flat-area
    figure at 33 dB, SSIM 0.957); the margin keeps the noise of nearby texture from
    bleeding into what a person sees on the flat side of an edge."""
    from scipy.ndimage import distance_transform_edt

    from .metrics import flat_mask

    flat = flat_mask(rgb)
    if not flat.any():
        return torch.ones(1, 1, *flat.shape)
    distance = distance_transform_edt(~flat)  # px to the nearest flat pixel (0 on one)
    return torch.from_numpy(np.clip(distance / FLAT_MARGIN, 0, 1) ** 2).float()[None, None]


def sign_pattern(h: int, w: int, sigma: float, seed: int = 0) -> torch.Tensor:
    """A stand-in for the attack's noise pattern: the signs of Gaussian-blurred white noise."""
    g = torch.Generator().manual_seed(seed)
    return torch.sign(gaussian_blur(torch.randn(1, 1, h, w, generator=g, dtype=torch.float64), sigma)).float()


def sample_windows(h: int, w: int) -> list[tuple[slice, slice]]:
    """An even grid of equal tiles (TILE x TILE, or the photo's height or width if smaller)
    adding up to about SAMPLE_PIXELS: where the search looks on a large photo."""
    per_side = max(1, int(math.sqrt(SAMPLE_PIXELS / TILE**2)))
    th, tw = min(h, TILE), min(w, TILE)
    rows = np.linspace(0, h - th, per_side).astype(int)
    cols = np.linspace(0, w - tw, per_side).astype(int)
    return [(slice(r, r + th), slice(c, c + tw)) for r in rows for c in cols]


def predicted_ssim(rgb: np.ndarray, luma_bound: torch.Tensor, pattern: torch.Tensor) -> float:
    """SSIM of the 8-bit photo plus a luma change of pattern x bound."""
    d = (pattern * luma_bound)[0, 0].numpy()
    adv = np.clip(np.round(rgb + d[..., None]), 0, 255).astype(np.uint8)
    return ssim(rgb, adv)


def luma_calibrate(shape: torch.Tensor, target_psnr: float, cap: float | None) -> torch.Tensor:
    """Scale a (1,1,H,W) luma map so that noise at the bound has PSNR `target_psnr`, each
    entry capped at `cap` (1/255 units). A luma change moves R, G and B alike, so its RGB
    MSE is mean(b^2). Exact in one pass: with the squared entries sorted, mean(min(t q,
    cap^2)) is piecewise linear in t = scale^2, solved segment by segment."""
    want = 255.0**2 / 10 ** (target_psnr / 10)
    q = shape.double().flatten().pow(2)
    n = q.numel()
    if not cap:
        return shape * math.sqrt(want / max(float(q.mean()), 1e-30))
    c2 = cap * cap
    t0 = want / max(float(q.mean()), 1e-30)
    if t0 * float(q.max()) <= c2:  # the common case: nothing reaches the cap
        return shape * math.sqrt(t0)
    if want >= c2:
        return torch.full_like(shape, cap)
    qs, _ = torch.sort(q, descending=True)
    tail = torch.flip(torch.cumsum(torch.flip(qs, [0]), 0), [0])  # tail[k] = sum of qs[k:]
    # With the k largest entries capped: (k c2 + t tail[k]) / n = want; the right k is the
    # one whose t caps exactly those k entries.
    k = torch.arange(n, dtype=torch.float64)
    t = (want * n - k * c2) / tail.clamp_min(1e-30)
    prev = torch.cat([torch.full((1,), math.inf, dtype=torch.float64), qs[:-1]])
    ok = (t * qs <= c2) & (t * prev >= c2) & (tail > 0)
    idx = torch.nonzero(ok)
    if len(idx) == 0:
        return torch.full_like(shape, cap)
    return (shape * math.sqrt(float(t[idx[0, 0]]))).clamp(max=cap)


def adaptive_luma_map(rgb: np.ndarray, target_psnr: float, min_ssim: float, cap: float | None,
                      pattern_sigma: float, gamma_max: float = 1.0) -> tuple[torch.Tensor, dict]:
    """(1,1,H,W) luma bound (1/255 units) at `target_psnr`, shaped as (2 sigma^2 + C2)^gamma
    with the smallest gamma in [0, gamma_max] whose predicted SSIM is >= min_ssim; if even
    gamma_max misses it, the energy is lowered (a higher PSNR) until it is met. Returns the
    map and what was chosen: {"gamma", "psnr", "predicted_ssim"}."""
    s = local_std(rgb)
    base = ((2 * s * s + C2) / C2).float()
    guard = flat_guard(rgb)
    h, w = rgb.shape[:2]
    if h * w > SAMPLE_PIXELS:
        # Search on a mosaic of evenly spread tiles (a fair sample of the photo's texture:
        # SSIM is a mean of local values), then build the whole map once with the choice.
        # A 12 MP photo then costs about what 1 MP does.
        windows = sample_windows(h, w)
        mosaic = np.concatenate([rgb[r, c] for r, c in windows], axis=0)
        mosaic_base = torch.cat([base[..., r, c] for r, c in windows], dim=2)
        mosaic_guard = torch.cat([guard[..., r, c] for r, c in windows], dim=2)
        _, chosen = _search(mosaic, mosaic_base, mosaic_guard, target_psnr, min_ssim, cap, pattern_sigma, gamma_max)
        return luma_calibrate(base.pow(chosen["gamma"]) * guard, chosen["psnr"], cap), chosen
    return _search(rgb, base, guard, target_psnr, min_ssim, cap, pattern_sigma, gamma_max)


def _search(rgb: np.ndarray, base: torch.Tensor, guard: torch.Tensor, target_psnr: float, min_ssim: float,
            cap: float | None, pattern_sigma: float, gamma_max: float) -> tuple[torch.Tensor, dict]:
    """adaptive_luma_map's search on one picture, its (2 sigma^2 + C2) / C2 map and its flat guard."""
    h, w = rgb.shape[:2]
    pattern = sign_pattern(h, w, pattern_sigma)

    def at(gamma: float, psnr: float) -> tuple[torch.Tensor, float]:
        stop_point()  # each probe costs a predicted SSIM: a cancelled server job stops between them
        b = luma_calibrate(base.pow(gamma) * guard, psnr, cap)
        return b, predicted_ssim(rgb, b, pattern)

    def smallest_passing(lo: float, hi: float, steps: int, make) -> tuple[torch.Tensor, float, float] | None:
        """Bisect for the smallest value in (lo, hi] whose map make(value) keeps min_ssim:
        (map, predicted SSIM, value) of the best passing probe, or None."""
        best = None
        for _ in range(steps):
            mid = (lo + hi) / 2
            b, q = make(mid)
            if q >= min_ssim:
                hi, best = mid, (b, q, mid)
            else:
                lo = mid
        return best

    b, q = at(0.0, target_psnr)
    if q >= min_ssim:
        return b, {"gamma": 0.0, "psnr": target_psnr, "predicted_ssim": q}
    b_hi, q_hi = at(gamma_max, target_psnr)
    if q_hi >= min_ssim:  # the evenest shape that keeps the SSIM floor
        best = smallest_passing(0.0, gamma_max, SEARCH_STEPS, lambda g: at(g, target_psnr))
        b, q, gamma = best if best is not None else (b_hi, q_hi, gamma_max)
        return b, {"gamma": gamma, "psnr": target_psnr, "predicted_ssim": q}
    # Even gamma_max misses it: the least energy cut (a higher PSNR) that keeps it.
    found = smallest_passing(target_psnr, target_psnr + 20, SEARCH_STEPS + 2, lambda p: at(gamma_max, p))
    if found is None:
        found = (*at(gamma_max, target_psnr + 20), target_psnr + 20)
    return found[0], {"gamma": gamma_max, "psnr": found[2], "predicted_ssim": found[1]}


SHAPE_MAX = 4.0  # the most a textured pixel may carry, in units of the shape's RMS


def equal_ssim_shape(rgb: np.ndarray) -> torch.Tensor:
    """(1,1,H,W) luma weights for the white-box modes' perceptual budget: the equal-SSIM
    allowance sqrt(2 sigma^2 + C2) (every SSIM window pays the same for noise of this
    shape), scaled to RMS 1 (noise at a box b has the energy of uniform noise at b) and
    capped at SHAPE_MAX. No energy target: the white-box loop grows its box only as needed."""
    s = local_std(rgb)
    shape = (2 * s * s + C2).sqrt()
    shape = shape / shape.pow(2).mean().sqrt()
    return shape.clamp(max=SHAPE_MAX).float()

