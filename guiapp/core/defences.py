"""Purification defences: plain functions image -> image on 8-bit RGB arrays.

Defences act on the image the model actually sees — the 224x224 centre crop of the
standard preprocessing, as 8-bit RGB (`model_view`) — as in the purification study
(224 -> 112 -> 224). That is the harder setting for the noise: at full resolution the
model's own downscaling would already average part of a defence's effect away.

PPGN and the context encoder of the study need pretrained generators that cannot be
shipped or downloaded here; they are listed in UNAVAILABLE and never faked.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter
from torch import nn

from .errors import Cancelled, GuiappError
from .preprocess import PreprocessSpec, image_to_tensor, tensor_to_image


def model_view(image: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """The 8-bit crop the model sees: PIL bilinear resize of the short side, centre crop."""
    img = Image.fromarray(image)
    h, w = image.shape[:2]
    rh, rw = spec.resized_size(h, w)
    if (rh, rw) != (h, w):
        img = img.resize((rw, rh), Image.BILINEAR)
    top, left = spec.crop_box(h, w)
    return np.asarray(img)[top : top + spec.crop, left : left + spec.crop].copy()


def rescale(image: np.ndarray, factor: float = 0.5) -> np.ndarray:
    """Down by `factor` and back up, PIL bilinear (224 -> 112 -> 224 at 0.5)."""
    h, w = image.shape[:2]
    small = Image.fromarray(image).resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.BILINEAR)
    return np.asarray(small.resize((w, h), Image.BILINEAR)).copy()


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


# --- Deep Image Prior --------------------------------------------------------------------


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
        for down, skip in zip(self.down, self.skip):
            skips.append(skip(x))
            x = down(x)
        for up, s in zip(self.up, reversed(skips)):
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


# --- registry ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Defence:
    name: str
    fn: Callable[..., np.ndarray]
    params: dict
    description: str

    def __call__(self, image: np.ndarray, **overrides) -> np.ndarray:
        return self.fn(image, **{**self.params, **overrides})

    @property
    def label(self) -> str:
        args = ",".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.name}({args})"


DEFENCES: dict[str, Defence] = {
    "rescale": Defence("rescale", rescale, {"factor": 0.5}, "downscale x0.5 and back (224->112->224)"),
    "jpeg": Defence("jpeg", jpeg, {"quality": 75}, "JPEG re-encoding at quality 75"),
    "bitdepth": Defence("bitdepth", bitdepth, {"bits": 4}, "reduce to 4 bits per channel"),
    "median": Defence("median", median, {"size": 3}, "3x3 median filter"),
    "dip": Defence("dip", deep_image_prior, {"iterations": 400}, "Deep Image Prior, 400 iterations (~37 s per 224-px image on 2 CPU cores)"),
}

UNAVAILABLE = {
    "ppgn": "needs a pretrained PPGN generator (Nguyen et al. 2017); none can be shipped or downloaded here",
    "context-encoder": "needs a pretrained context-encoder inpainting network (Pathak et al. 2016); not available",
}


def parse_defences(text: str) -> list[Defence]:
    """'rescale,jpeg:quality=50,dip:iterations=100' -> configured defences."""
    chosen = []
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        name, _, args = part.partition(":")
        name = name.strip().lower()
        if name in UNAVAILABLE:
            raise GuiappError(f"defence {name!r} is not available: {UNAVAILABLE[name]}")
        if name not in DEFENCES:
            raise GuiappError(f"unknown defence {name!r}; choose from {', '.join(DEFENCES)}")
        base = DEFENCES[name]
        params = dict(base.params)
        for kv in [a for a in args.split(";") if a]:
            key, _, value = kv.partition("=")
            if key not in params:
                raise GuiappError(f"defence {name} has no parameter {key!r} (it has {', '.join(params)})")
            params[key] = type(params[key])(value)
        chosen.append(Defence(base.name, base.fn, params, base.description))
    if not chosen:
        raise GuiappError("no defences given")
    return chosen
