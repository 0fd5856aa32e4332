"""The classic purifiers: rescaling, JPEG, bit-depth reduction and the median filter,
each a plain function on 8-bit RGB arrays (what a defender runs) and its differentiable
stand-in (what an adaptive attack differentiates)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter

from .base import real_forward, straight_through


def rescale(image: np.ndarray, factor: float = 0.5) -> np.ndarray:
    """Down by `factor` and back up, PIL bilinear (224 -> 112 -> 224 at 0.5)."""
    h, w = image.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    small = Image.fromarray(image).resize(size, Image.Resampling.BILINEAR)
    return np.asarray(small.resize((w, h), Image.Resampling.BILINEAR)).copy()


def rescale_estimate(v: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    """Differentiable rescale: antialiased bilinear down (as PIL's), bilinear back up, to the
    same sizes as `rescale`; 8-bit rounding of both stages straight-through."""
    h, w = v.shape[-2:]
    size = (max(1, round(h * params["factor"])), max(1, round(w * params["factor"])))
    small = _round8(F.interpolate(v, size=size, mode="bilinear", antialias=True, align_corners=False))
    return _round8(F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False))


def _round8(v: torch.Tensor) -> torch.Tensor:
    return v + (torch.round(v.clamp(0, 1) * 255) / 255 - v).detach()


def jpeg(image: np.ndarray, quality: int = 75) -> np.ndarray:
    """Encode as JPEG at `quality` and decode (PIL/libjpeg, 4:2:0 chroma subsampling)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=int(quality))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")).copy()


def jpeg_estimate(v: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    """The real JPEG round trip, with the gradient of its smooth part (BPDA): chroma is
    stored at half resolution (4:2:0), so the gradient of the colour channels is averaged
    over 2x2 blocks as the encoder averages them; quantising the DCT coefficients counts as
    the identity."""
    return straight_through(v, lambda a: jpeg(a, params["quality"]), _chroma_420(v))


_YCC = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def _chroma_420(v: torch.Tensor) -> torch.Tensor:
    """RGB -> YCbCr, Cb and Cr averaged over 2x2 blocks and upsampled, -> RGB."""
    m = _YCC.to(v)
    ycc = torch.einsum("ij,njhw->nihw", m, v)
    h, w = v.shape[-2:]
    chroma = F.avg_pool2d(ycc[:, 1:], 2, ceil_mode=True)
    chroma = F.interpolate(chroma, scale_factor=2, mode="nearest")[..., :h, :w]
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(m), torch.cat([ycc[:, :1], chroma], 1))


def bitdepth(image: np.ndarray, bits: int = 4) -> np.ndarray:
    """Keep `bits` bits per channel (feature squeezing), mapped back to 0..255."""
    levels = 2**int(bits) - 1
    return (np.round(image.astype(np.float32) / 255 * levels) / levels * 255).round().astype(np.uint8)


# The smoothed staircase's steps are this many 8-bit levels wide: gradient reaches the
# pixels the attack can push across a quantisation boundary, not only those on it.
SOFT_STEP_WIDTH = 6.0
IDENTITY_SHARE = 0.2


def bitdepth_estimate(v: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    """The exact quantisation forward; backward through a smoothed staircase (sigmoid steps
    at the quantisation boundaries, plus a little identity), so the gradient says which
    pixels to push across a boundary instead of pretending every change survives."""
    levels = 2 ** int(params["bits"]) - 1
    y = v * levels
    k = torch.floor(y).detach()
    tau = SOFT_STEP_WIDTH * levels / 255 / 4
    soft = (k + torch.sigmoid((y - k - 0.5) / tau)) / levels
    surrogate = IDENTITY_SHARE * v + (1 - IDENTITY_SHARE) * soft
    real = torch.round(torch.round(v.detach() * 255) / 255 * levels) / levels
    real = torch.round(real * 255) / 255
    return surrogate + (real - surrogate).detach()


def median(image: np.ndarray, size: int = 3) -> np.ndarray:
    """Median filter over a size x size window, per channel (PIL: edges replicated)."""
    return np.asarray(Image.fromarray(image).filter(ImageFilter.MedianFilter(int(size)))).copy()


def median_estimate(v: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    """The median filter, exact forward (PIL's) and its exact gradient: each output pixel
    is one pixel of its window, and the gradient flows to that pixel.

    Which pixel: the first in window order whose value is closest to the median, found by
    comparing s*s shifted views in place rather than unfolding every window (the unfold
    made a 25x copy of a 500x375 photo per 5x5 step: 300 ms, now 190 ms, of which PIL's
    median itself is 140 ms; one thread)."""
    s = int(params["size"])
    r = s // 2
    n, c, h, w = v.shape
    real = real_forward(v, lambda a: median(a, s)).view(n, c, h, w)
    padded = F.pad(v, (r,) * 4, mode="replicate")
    with torch.no_grad():
        best_gap = (padded[..., :h, :w] - real).abs()
        best = torch.zeros((n, c, h, w), dtype=torch.long, device=v.device)
        for k in range(1, s * s):
            dy, dx = divmod(k, s)
            gap = (padded[..., dy:dy + h, dx:dx + w] - real).abs()
            closer = gap < best_gap
            best_gap = torch.where(closer, gap, best_gap)
            best.masked_fill_(closer, k)
        rows = torch.arange(h, device=v.device).view(1, 1, h, 1) + best // s
        cols = torch.arange(w, device=v.device).view(1, 1, 1, w) + best % s
        index = (rows * (w + 2 * r) + cols).view(n, c, h * w)
    chosen = padded.reshape(n, c, -1).gather(2, index).view(n, c, h, w)
    return chosen + (real - chosen).detach()
