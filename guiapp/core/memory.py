"""Will it fit in memory? Estimate it before decoding the image and refuse with a clear message.

An attack keeps several float32 copies of the image at its original resolution (the image,
the perturbation, its gradient, the rounded image) plus a few 8-bit candidates, and every
model it crafts on resizes the image to its own input size, differentiably: the short side
goes to the model's resize (256 for EfficientNet-Lite0). For a photo that view is small,
but a thin strip is *upscaled*: a 60000x32 PNG of 5.8 KB becomes a 480000x256 view, 123
megapixels, 3 GB of float32 tensors with their gradients, whatever its own size. So an
estimate needs both numbers, the image's pixels and the pixels of each model's resized
view (a `Footprint`), and both are known from the file's header, before decoding.

Each attack strategy owns its estimate (bench/attack_memory.py measures the peak RSS an
attack adds on photos, bench/hardening.py on thin strips; docs/BENCHMARKS.md has the
numbers); `predict_bytes` is the estimate of classifying an image. Rather than let the
operating system kill the process (or swap for minutes) halfway through, `check_memory`
compares the estimate with what is available now: MemAvailable from /proc/meminfo for
the CPU, free GPU memory from torch.cuda.mem_get_info for CUDA. Set
GUIAPP_MEMORY_CHECK=off to skip the check (say, on a machine with ample swap).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import MemoryLimitError
from .preprocess import PreprocessSpec

GIB = 2**30
MIB = 2**20
# The estimate is of the peak; leave a little for everything else the process does.
HEADROOM = 1.1
SMALLEST_SIDE = 32  # imageio.MIN_SIDE: no image the loader accepts is thinner

Estimate = Callable[[int, int], int]  # (width, height) -> bytes, for one set of models

# Classifying an image through the standard PIL path (predict; the attack's own estimates
# include it): decoding (PIL's RGB buffer, the RGB array, PIL's copy) and the resized 8-bit
# view, cropped before it becomes float. bench/hardening.py, CPU, EfficientNet-Lite0:
# 12 and 48 MP photos 229 and 825 MiB (32 MiB + 17.4 B/px), 20000x32 and 60000x32 strips
# 187 and 564 MiB (4.3 B per resized pixel); rounded up.
PREDICT_FIXED = 40 * MIB
PREDICT_PER_PIXEL = 18
PREDICT_PER_RESIZED = 5


def resized_pixels(spec: PreprocessSpec, width: int, height: int) -> int:
    """Pixels of the model's resized view of a width x height image (before its crop)."""
    if width <= 0 or height <= 0:
        return 0
    rh, rw = spec.resized_size(height, width)
    return rh * rw


@dataclass(frozen=True)
class Footprint:
    """What an image costs the models that process it: its own pixels, and the pixels of
    each model's resized view (short side -> the model's resize: 60000x32 -> 480000x256)."""

    width: int
    height: int
    resized: tuple[int, ...]  # per model
    # What the models' own activations need beyond the allowance in the constants (a user's
    # model larger than EfficientNet-Lite0; guiapp.core.models.activations), all models.
    model_bytes: int = 0

    @classmethod
    def of(cls, width: int, height: int, specs: Sequence[PreprocessSpec], model_bytes: int = 0) -> Footprint:
        """A size the loader refuses (a side under 32 px) means "this many pixels, of no
        particular shape" and is estimated as a square: callers asking what N pixels cost
        pass (N, 1)."""
        if 0 < min(width, height) < SMALLEST_SIDE:
            side = max(1, int(math.isqrt(width * height)))
            width = height = side
        return cls(width, height, tuple(resized_pixels(s, width, height) for s in specs), model_bytes)

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def resized_pixels(self) -> int:
        """Resized pixels over every model."""
        return sum(self.resized)

    @property
    def models(self) -> int:
        return len(self.resized)


def predict_bytes(footprint: Footprint) -> int:
    """Peak memory classifying an image adds (decoding it included), per model in turn."""
    largest = max(footprint.resized, default=0)
    return int(PREDICT_FIXED + PREDICT_PER_PIXEL * footprint.pixels + PREDICT_PER_RESIZED * largest
               + footprint.model_bytes)


def _meminfo_available() -> int | None:
    """MemAvailable in bytes, or None where /proc/meminfo does not exist (not Linux)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def available_bytes(device: torch.device | str | None = None) -> tuple[int | None, str]:
    """(bytes free for a new attack, where) on `device`; None when it cannot be known."""
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cuda":
        try:
            free, _total = torch.cuda.mem_get_info(dev)
        except (RuntimeError, AssertionError):
            return None, f"GPU memory ({dev})"
        # Blocks torch has cached but not handed out are free for this process too.
        reserved = torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev)
        return int(free + max(0, reserved)), f"GPU memory ({dev})"
    return _meminfo_available(), "RAM"


def largest_fitting_pixels(available: int, estimate: Estimate, width: int = 1000, height: int = 1000) -> int:
    """The most pixels of an image shaped like width x height (scaled, same aspect ratio)
    whose estimate fits in `available` bytes; 0 if no size does (an image so elongated that
    the models' resized view alone does not fit: only cropping helps)."""
    def fits(scale: float) -> bool:
        w, h = max(1, int(width * scale)), max(1, int(height * scale))
        return estimate(w, h) * HEADROOM <= available

    smallest = SMALLEST_SIDE / max(1, min(width, height))
    if not fits(smallest):
        return 0
    low, high = smallest, smallest
    while fits(high * 2) and high < 1e6:
        low, high = high * 2, high * 2
    high *= 2
    for _ in range(60):  # bisection to well under a pixel
        mid = (low + high) / 2
        low, high = (mid, high) if fits(mid) else (low, mid)
    return max(1, int(width * low)) * max(1, int(height * low))


@dataclass(frozen=True)
class MemoryCheck:
    needed: int  # bytes the attack is estimated to add
    available: int | None  # bytes available now, None if unknown
    where: str  # "RAM" or "GPU memory (cuda:0)"

    @property
    def fits(self) -> bool:
        return self.available is None or self.needed * HEADROOM <= self.available


def check_memory(
    estimate: Estimate,
    width: int,
    height: int,
    device: torch.device | str | None = None,
    what: str = "an attack",
    limit: int | None = None,
    limit_name: str = "",
) -> MemoryCheck:
    """Raise MemoryLimitError when `what` on a width x height image would not fit now, or
    would take more than `limit` bytes (a server's per-request cap, named `limit_name`: it
    holds however much memory is free, and GUIAPP_MEMORY_CHECK=off does not lift it).

    The message gives the estimate, what is available, and the largest size that would fit
    (or says that only cropping helps, for a strip the models would upscale).
    """
    needed = estimate(width, height)
    size = f"{what} on this {width}x{height} image ({width * height / 1e6:.1f} megapixels) needs about " \
           f"{needed / GIB:.1f} GiB"
    if limit is not None and needed * HEADROOM > limit:
        raise MemoryLimitError(f"{size}, more than the {limit / GIB:.1f} GiB this server allows one request "
                               f"({limit_name}). {_advice(limit, estimate, width, height)}.")
    available, where = available_bytes(device)
    check = MemoryCheck(needed, available, where)
    if check.fits or os.environ.get("GUIAPP_MEMORY_CHECK", "").lower() in ("off", "0", "no"):
        return check
    assert available is not None
    raise MemoryLimitError(
        f"{size} of {where}, but only {available / GIB:.1f} GiB is available. "
        + _advice(available, estimate, width, height)
        + (", or use the CPU" if where.startswith("GPU") else "")
        + ". The pixel limit (--max-pixels N on the command line, max_pixels= in Python, Edit > Preferences "
        "in the app) refuses larger images already when loading them; GUIAPP_MEMORY_CHECK=off skips this check"
    )


def _advice(available: int, estimate: Estimate, width: int, height: int) -> str:
    """What would fit in `available` bytes: a smaller size, a crop (a strip), or nothing."""
    fit = largest_fitting_pixels(available, estimate, width, height)
    if fit:
        scale = (fit / (width * height)) ** 0.5
        return (f"Downscale the image to at most {int(width * scale)}x{int(height * scale)} "
                f"({fit / 1e6:.1f} megapixels), free memory")
    if largest_fitting_pixels(available, estimate):
        long, short = max(width, height), max(1, min(width, height))
        return (f"The image is {long / short:.0f} times longer than wide, and the model resizes its short "
                "side to its input size, so downscaling does not help: crop it to a less elongated shape, "
                "free memory")
    return "Free memory"
