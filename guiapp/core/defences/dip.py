"""Deep Image Prior (Ulyanov et al. 2018) as a purifier: an untrained hourglass fitted to
the image from fixed noise reproduces image structure before it reproduces noise."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import Cancelled
from ..preprocess import image_to_tensor, tensor_to_image


class _DIPNet(nn.Module):
    """A small hourglass (encoder-decoder with skips), as in Ulyanov et al. 2018, scaled
    down so that a few hundred iterations on a 224-px image fit a CPU budget."""

    def __init__(self, cin: int = 8, width: int = 32, depth: int = 4) -> None:
        super().__init__()

        def block(a: int, b: int, stride: int = 1) -> nn.Sequential:
            return nn.Sequential(
                nn.ReflectionPad2d(1), nn.Conv2d(a, b, 3, stride), nn.BatchNorm2d(b), nn.LeakyReLU(0.2)
            )

        self.down = nn.ModuleList([block(cin if i == 0 else width, width, 2) for i in range(depth)])
        self.skip = nn.ModuleList([nn.Sequential(nn.Conv2d(cin if i == 0 else width, 4, 1), nn.LeakyReLU(0.2))
                                   for i in range(depth)])
        self.up = nn.ModuleList([block(width + 4, width) for _ in range(depth)])
        self.out = nn.Conv2d(width, 3, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        skips, x = [], z
        for down, skip in zip(self.down, self.skip, strict=True):
            skips.append(skip(x))
            x = down(x)
        for up, s in zip(self.up, reversed(skips), strict=True):
            x = F.interpolate(x, size=s.shape[-2:], mode="bilinear", align_corners=False)
            x = up(torch.cat([x, s], 1))
        return torch.sigmoid(self.out(x))


def deep_image_prior(
    image: np.ndarray,
    iterations: int = 400,
    lr: float = 0.01,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """Fit an untrained hourglass from fixed noise to the image; return its output at
    `iterations`. Early on the network reproduces image structure before noise, which is
    the purification. `progress(i, total, mse)` is called every 10 iterations."""
    dev = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    target = image_to_tensor(image, dev)
    h, w = image.shape[:2]
    z = (torch.rand(1, 8, h, w, generator=gen) * 0.1).to(dev)
    net = _DIPNet().to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for i in range(1, iterations + 1):
        if cancel is not None and cancel.is_set():
            raise Cancelled("Deep Image Prior cancelled")
        opt.zero_grad(set_to_none=True)
        # Input noise regularisation, as in the DIP paper's restoration settings.
        out = net(z + torch.randn(z.shape, generator=gen).to(dev) * (1 / 30))
        loss = F.mse_loss(out, target)
        loss.backward()
        opt.step()
        if progress is not None and (i % 10 == 0 or i == iterations):
            progress(i, iterations, float(loss.detach()))
    with torch.no_grad():
        out = net(z)
    return tensor_to_image(out)


# The stand-in's blur: a Gaussian whose output is closest to Deep Image Prior's on
# photos (fitted on held-out images, docs/EVALUATION.md). DIP has no usable gradient (its
# output is an optimisation's end point) and takes tens of seconds, so an attack
# differentiates this low-pass filter instead and checks the real DIP only at the end.
DIP_BLUR_SIGMA = 1.5


def dip_estimate(v: torch.Tensor, params: dict) -> torch.Tensor:
    """A differentiable stand-in for Deep Image Prior: a Gaussian blur (separable, edges
    replicated), which is what DIP's early stop mostly does to fine detail and noise."""
    return gaussian_blur(v, DIP_BLUR_SIGMA)


def gaussian_blur(v: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(3 * sigma + 0.5))
    t = torch.arange(-radius, radius + 1, device=v.device, dtype=v.dtype)
    k = torch.exp(-t**2 / (2 * sigma**2))
    k = k / k.sum()
    c = v.shape[1]
    v = F.pad(v, (radius,) * 4, mode="replicate")
    v = F.conv2d(v, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(v, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
