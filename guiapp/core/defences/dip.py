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


# The stand-in: a Gaussian blur as strong as DIP's smoothing. Fitted on one held-out photo's
# 224-px view (goldfish): DIP's output is closest to a blur of sigma 6 after 40 iterations,
# 4 after 100 and 1.5 after 400 (PSNR 26.5, 28.6, 31.4 dB against it); other counts are
# interpolated in log(iterations). DIP has no usable gradient (its output is the end point
# of an optimisation) and costs tens of seconds, so an attack differentiates this low-pass
# filter instead, a little stronger at random (EOT, x1-1.5), and checks the real DIP at the end.
BLUR_FIT = ((40, 6.0), (100, 4.0), (400, 1.5))


def blur_sigma(iterations: int) -> float:
    """The blur closest to DIP's output after `iterations` (BLUR_FIT, log-interpolated)."""
    its, sigmas = zip(*BLUR_FIT, strict=True)
    return float(np.interp(np.log(iterations), np.log(its), sigmas))


def dip_estimate(v: torch.Tensor, params: dict) -> torch.Tensor:
    """A differentiable stand-in for Deep Image Prior: a Gaussian blur (separable, edges
    replicated) of DIP's strength at these iterations, x1-1.5 at random."""
    strength = 1 + 0.5 * float(torch.rand(()))
    return gaussian_blur(v, blur_sigma(int(params["iterations"])) * strength)


def gaussian_blur(v: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(3 * sigma + 0.5))
    t = torch.arange(-radius, radius + 1, device=v.device, dtype=v.dtype)
    k = torch.exp(-t**2 / (2 * sigma**2))
    k = k / k.sum()
    c = v.shape[1]
    v = F.pad(v, (radius,) * 4, mode="replicate")
    v = F.conv2d(v, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(v, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
