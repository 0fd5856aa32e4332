"""The noise, looked at properly: where it is, how strong, in which channel, which values.

Pure numpy on two 8-bit images of one size (the original and the adversarial result):
a magnitude map (the largest change over the three channels, in 8-bit levels), each
channel's signed change as a diverging colour image, the histogram of the changes per
channel, and colour maps to show them. The window's Noise tab and the HTML report use
these; nothing here knows about Qt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHANNELS = ("red", "green", "blue")


@dataclass(frozen=True)
class NoiseStats:
    diff: np.ndarray  # (H, W, 3) int16: adversarial - original, in 8-bit levels
    magnitude: np.ndarray  # (H, W) uint8: max |change| over the channels
    levels: np.ndarray  # (2L+1,) the change values of the histogram, -L..L
    counts: np.ndarray  # (3, 2L+1) how many pixels of each channel changed by each value
    changed: float  # fraction of pixels with any channel changed
    mean_abs: float  # mean |change| over all pixel channels
    linf: int  # largest |change|

    def summary(self) -> str:
        return (f"{self.changed:.1%} of the pixels changed · largest change {self.linf}/255 · "
                f"mean |change| {self.mean_abs:.2f}/255")


def noise_stats(original: np.ndarray, adversarial: np.ndarray) -> NoiseStats:
    if original.shape != adversarial.shape:
        raise ValueError(f"images differ in size: {original.shape} vs {adversarial.shape}")
    diff = adversarial.astype(np.int16) - original.astype(np.int16)
    magnitude = np.abs(diff).max(axis=2).astype(np.uint8)
    linf = int(magnitude.max())
    top = max(linf, 1)
    levels = np.arange(-top, top + 1)
    counts = np.stack([np.bincount(diff[..., c].ravel() + top, minlength=2 * top + 1) for c in range(3)])
    return NoiseStats(diff, magnitude, levels, counts, float((magnitude > 0).mean()),
                      float(np.abs(diff).mean()), linf)


def _lut(stops: list[tuple[float, tuple[int, int, int]]]) -> np.ndarray:
    """A 256-entry RGB lookup table through the given (position, colour) stops."""
    x = np.linspace(0, 1, 256)
    pos = [p for p, _ in stops]
    return np.stack([np.interp(x, pos, [c[i] for _, c in stops]) for i in range(3)], axis=1).astype(np.uint8)


# Black -> purple -> orange -> pale yellow (inferno-like): small changes dark, large bright.
HEAT = _lut([(0.0, (0, 0, 4)), (0.25, (87, 16, 110)), (0.5, (188, 55, 84)), (0.75, (249, 142, 9)),
             (1.0, (252, 255, 164))])
# Blue (lowered) -> mid-grey (unchanged) -> red (raised).
DIVERGING = _lut([(0.0, (33, 102, 172)), (0.5, (128, 128, 128)), (1.0, (178, 24, 43))])


def heatmap(magnitude: np.ndarray, top: float | None = None) -> np.ndarray:
    """(H, W) magnitudes -> (H, W, 3) uint8 through HEAT; `top` is the brightest value."""
    top = float(top if top is not None else max(1, int(magnitude.max())))
    index = np.clip(magnitude.astype(np.float32) / top * 255, 0, 255).astype(np.uint8)
    return HEAT[index]


def channel_image(diff: np.ndarray, channel: int, top: float | None = None) -> np.ndarray:
    """One channel's signed change -> (H, W, 3) uint8: blue lowered, grey unchanged, red raised."""
    d = diff[..., channel].astype(np.float32)
    top = float(top if top is not None else max(1, int(np.abs(diff).max())))
    index = np.clip(128 + d / top * 127, 0, 255).astype(np.uint8)
    return DIVERGING[index]


def overlay(rgb: np.ndarray, heat: np.ndarray, alpha: np.ndarray | float = 0.5) -> np.ndarray:
    """Blend a colour map over an image of the same size (alpha per pixel or for all)."""
    a = np.asarray(alpha, dtype=np.float32)
    if a.ndim == 2:
        a = a[..., None]
    return (rgb.astype(np.float32) * (1 - a) + heat.astype(np.float32) * a).round().clip(0, 255).astype(np.uint8)
