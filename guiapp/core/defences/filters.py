"""The classic purifiers: rescaling, JPEG, bit-depth reduction and the median filter,
each a plain function on 8-bit RGB arrays (what a defender runs)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter


def rescale(image: np.ndarray, factor: float = 0.5) -> np.ndarray:
    """Down by `factor` and back up, PIL bilinear (224 -> 112 -> 224 at 0.5)."""
    h, w = image.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    small = Image.fromarray(image).resize(size, Image.Resampling.BILINEAR)
    return np.asarray(small.resize((w, h), Image.Resampling.BILINEAR)).copy()


def rescale_estimate(v: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    """Differentiable rescale: antialiased bilinear down (as PIL's), bilinear back up."""
    small = F.interpolate(v, scale_factor=params["factor"], mode="bilinear", antialias=True, align_corners=False)
    return F.interpolate(small, size=v.shape[-2:], mode="bilinear", align_corners=False)


def jpeg(image: np.ndarray, quality: int = 75) -> np.ndarray:
    """Encode as JPEG at `quality` and decode (PIL/libjpeg, 4:2:0 chroma subsampling)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=int(quality))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")).copy()


def bitdepth(image: np.ndarray, bits: int = 4) -> np.ndarray:
    """Keep `bits` bits per channel (feature squeezing), mapped back to 0..255."""
    levels = 2**int(bits) - 1
    return (np.round(image.astype(np.float32) / 255 * levels) / levels * 255).round().astype(np.uint8)


def median(image: np.ndarray, size: int = 3) -> np.ndarray:
    """Median filter over a size x size window, per channel."""
    return np.asarray(Image.fromarray(image).filter(ImageFilter.MedianFilter(int(size)))).copy()
