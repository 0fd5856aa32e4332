"""Will an attack fit in memory? Estimate it before starting and refuse with a clear message.

An attack keeps several float32 copies of the image at its original resolution (the image,
the perturbation, its gradient, the rounded image, the buffers of the differentiable
resize) plus a few 8-bit candidates, so its memory grows linearly with the pixel count.
Each attack strategy owns its estimate (bench/attack_memory.py measures the peak RSS an
attack adds on top of the loaded model; docs/BENCHMARKS.md has the numbers). Rather than
let the operating system kill the process (or swap for minutes) halfway through,
`check_memory` compares the estimate with what is available now: MemAvailable from
/proc/meminfo for the CPU, free GPU memory from torch.cuda.mem_get_info for CUDA. Set
GUIAPP_MEMORY_CHECK=off to skip the check (say, on a machine with ample swap).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import MemoryLimitError

GIB = 2**30
MIB = 2**20
# The estimate is of the peak; leave a little for everything else the process does.
HEADROOM = 1.1

Estimate = Callable[[int, int], int]  # (width, height) -> bytes


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


def largest_fitting_pixels(available: int, estimate: Estimate) -> int:
    """The most pixels whose attack fits in `available` bytes (0 if none does); the
    estimate is linear in the pixel count."""
    fixed = estimate(0, 0)
    per_pixel = (estimate(1000, 1000) - fixed) / 1e6
    return max(0, int((available / HEADROOM - fixed) / per_pixel)) if per_pixel > 0 else 0


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
) -> MemoryCheck:
    """Raise MemoryLimitError when `what` on a width x height image would not fit now.

    The message gives the estimate, what is available, and the largest size that would fit.
    """
    needed = estimate(width, height)
    available, where = available_bytes(device)
    check = MemoryCheck(needed, available, where)
    if check.fits or os.environ.get("GUIAPP_MEMORY_CHECK", "").lower() in ("off", "0", "no"):
        return check
    assert available is not None
    fit = largest_fitting_pixels(available, estimate)
    scale = (fit / (width * height)) ** 0.5 if fit else 0.0
    size = f"{int(width * scale)}x{int(height * scale)} ({fit / 1e6:.1f} megapixels)" if fit else "no size"
    raise MemoryLimitError(
        f"{what} on this {width}x{height} image ({width * height / 1e6:.1f} megapixels) needs about "
        f"{needed / GIB:.1f} GiB of {where}, but only {available / GIB:.1f} GiB is available. "
        f"Downscale the image to at most {size}, free memory"
        + (", or use the CPU" if where.startswith("GPU") else "")
        + ". The pixel limit (--max-pixels N on the command line, max_pixels= in Python, Edit > Preferences "
        "in the app) refuses larger images already when loading them; GUIAPP_MEMORY_CHECK=off skips this check"
    )
