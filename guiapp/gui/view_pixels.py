"""What the three views draw, pixel by pixel (no Qt): the amplified difference, an image's
transparency over a checkerboard, the pointer's pixel in words."""

from __future__ import annotations

import numpy as np

GREYS = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, 1)  # the Difference view's colour map


def pixel_readout(original: np.ndarray, adversarial: np.ndarray | None, x: float, y: float) -> str:
    """'(12, 40)  120 64 33 → 121 63 33  (+1 -1 0)' for the pixel under (x, y) in image
    coordinates: position, original, result, change ('' outside the image)."""
    h, w = original.shape[:2]
    col, row = int(np.floor(x)), int(np.floor(y))
    if not (0 <= col < w and 0 <= row < h):
        return ""
    before = np.atleast_1d(original[row, col]).astype(int)
    text = f"({col}, {row})  {' '.join(map(str, before))}"
    if adversarial is not None and adversarial.shape[:2] == original.shape[:2]:
        after = np.atleast_1d(adversarial[row, col]).astype(int)
        change = after - before
        text += f" → {' '.join(map(str, after))}  ({' '.join(f'{d:+d}' if d else '0' for d in change)})"
    return text


def over_checkerboard(rgb: np.ndarray, alpha: np.ndarray, square: int = 8) -> np.ndarray:
    """The image composited over a grey checkerboard by its alpha, as image editors show
    transparency (an RGBA file's transparent parts looked opaque in the views)."""
    h, w = alpha.shape
    ys, xs = np.indices((h, w))
    board = np.where(((ys // square) + (xs // square)) % 2 == 0, 204, 153).astype(np.float32)
    a = alpha.astype(np.float32)[..., None] / 255
    return np.round(rgb.astype(np.float32) * a + board[..., None] * (1 - a)).astype(np.uint8)


def amplified_difference(original: np.ndarray, adversarial: np.ndarray, factor: int) -> np.ndarray:
    """Mid-grey where nothing changed; each 1/255 change shown `factor` times larger."""
    diff = adversarial.astype(np.int16) - original.astype(np.int16)
    return np.clip(128 + diff * factor, 0, 255).astype(np.uint8)
