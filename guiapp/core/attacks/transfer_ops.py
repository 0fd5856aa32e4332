"""The building blocks of the transfer loop: input diversity, gradient smoothing, margins
and the shrink phase. Plain functions on tensors, each switchable from TransferConfig."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..models import Classifier
from ..stop_points import stop_point

TI_SIGMAS = 3.0  # the Gaussian kernel spans +-3 sigma, as in Dong et al.
SHRINK_PROBES = 7  # bisection steps of the shrink phase (scale known to within 1%)


def gaussian_kernel1d(size: int, device: torch.device) -> torch.Tensor:
    coords = torch.linspace(-TI_SIGMAS, TI_SIGMAS, size, device=device)
    k = torch.exp(-0.5 * coords**2)
    return k / k.sum()


def smooth_gradient(grad: torch.Tensor, size: int) -> torch.Tensor:
    """TI: separable Gaussian smoothing of a (1,3,H,W) gradient (zero padding, as in TI).

    On the CPU through scipy's 1-D correlation: torch's depthwise conv2d has no fast CPU
    path for these kernels and took 43 ms of a 115 ms transfer iteration at 500x375 (one
    thread) and 12.6 s at 12 MP; scipy takes 3 ms and 1.2 s, equal to 2e-7. On a GPU the
    convolution stays in torch."""
    if size <= 1:
        return grad
    if grad.device.type == "cpu":
        from scipy import ndimage

        kernel = gaussian_kernel1d(size, grad.device).numpy().astype(np.float32)
        stop_point()  # seconds per axis on a large image with a large kernel (stop_points.py)
        out = ndimage.correlate1d(grad.detach().numpy(), kernel, axis=-1, mode="constant")
        stop_point()
        out = ndimage.correlate1d(out, kernel, axis=-2, mode="constant")
        return torch.from_numpy(out)
    return smooth_gradient_conv(grad, size)


def smooth_gradient_conv(grad: torch.Tensor, size: int) -> torch.Tensor:
    """TI as a depthwise convolution in torch, on any device (the GPU path)."""
    k = gaussian_kernel1d(size, grad.device)
    pad = size // 2
    channels = grad.shape[1]
    out = F.conv2d(grad, k.view(1, 1, 1, size).expand(channels, 1, 1, size).contiguous(), padding=(0, pad),
                   groups=channels)
    return F.conv2d(out, k.view(1, 1, size, 1).expand(channels, 1, size, 1).contiguous(), padding=(pad, 0),
                    groups=channels)


def diverse_input(crop: torch.Tensor, p: float, gen: torch.Generator, scale: float = 1.1) -> torch.Tensor:
    """DI: with probability p, resize the (1,3,s,s) crop to a random size in [s, scale*s) and
    zero-pad it at a random offset to scale*s; otherwise return it unchanged. The model then
    sees the content up to `scale` times larger, as a model with a larger input would."""
    if p <= 0 or float(torch.rand(1, generator=gen)) >= p:
        return crop
    s = crop.shape[-1]
    out_size = int(s * scale)
    rnd = int(torch.randint(s, out_size, (1,), generator=gen))
    resized = F.interpolate(crop, size=(rnd, rnd), mode="bilinear", align_corners=False)
    rem = out_size - rnd
    top = int(torch.randint(0, rem + 1, (1,), generator=gen))
    left = int(torch.randint(0, rem + 1, (1,), generator=gen))
    return F.pad(resized, (left, rem - left, top, rem - top))


def target_margin(logits: torch.Tensor, target: int) -> torch.Tensor:
    """Target logit minus the best other logit, per row."""
    others = torch.cat([logits[:, :target], logits[:, target + 1 :]], 1).amax(1)
    return logits[:, target] - others


def shrink_noise(
    surrogates: list[Classifier],
    x: torch.Tensor,
    delta: torch.Tensor,
    targets: list[int],
    margin: float,
    cancel: threading.Event | None = None,
) -> Iterator[tuple[torch.Tensor, bool, torch.Tensor, torch.Tensor]]:
    """Bisect the smallest scale s of `delta` whose 8-bit image x + s*delta keeps every
    surrogate's target margin (`targets`: the target in each one's list) >= `margin`.
    Yields (probe image, ok, margins, best so far).

    Transfer noise is optimised to the L-inf budget everywhere; most of it is not needed
    to keep the surrogates convinced, and less noise is less visible. The margin is the
    safety that buys transfer to unseen models (docs/BENCHMARKS.md measures the trade).
    """

    def rounded(scale: float) -> torch.Tensor:
        return torch.round((x + scale * delta).clamp(0, 1) * 255) / 255

    def margins_of(q: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([target_margin(m.logits(q), t) for m, t in zip(surrogates, targets, strict=True)])

    best = rounded(1.0)
    full = margins_of(best)
    yield best, bool((full >= margin).all()), full, best
    if not bool((full >= margin).all()):
        return  # the full noise does not reach the margin: keep all of it
    lo, hi = 0.0, 1.0
    for _ in range(SHRINK_PROBES):
        if cancel is not None and cancel.is_set():
            return
        mid = (lo + hi) / 2
        q = rounded(mid)
        margins = margins_of(q)
        ok = bool((margins >= margin).all())
        if ok:
            hi, best = mid, q
        else:
            lo = mid
        yield q, ok, margins, best
