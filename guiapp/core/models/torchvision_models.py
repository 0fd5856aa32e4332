"""torchvision classifiers through torchvision's own weights API: from the torch cache, a
download when online, or a local state dict file; offline without any, a clear message."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import ModelUnavailableError
from ..preprocess import PreprocessSpec
from .weights import apply_state_dict, load_state_dict

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


def torchvision_loader(arch: str):
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
            state = load_state_dict(weights)
            source = str(weights)
        else:
            state, source = _torchvision_state(weights_enum)
        if arch == "googlenet":
            state = {k: v for k, v in state.items() if not k.startswith("aux")}
        apply_state_dict(net, state, source)
        feats, head, layer = _split_last_linear(net)
        return feats, head, torchvision_spec(arch), layer, state, source

    return load


def build_torchvision(arch: str, weights: Path | None) -> tuple[nn.Module, dict[str, torch.Tensor], str, int]:
    """Any torchvision classification architecture with its weights enum's weights (cache
    or download) or a local state dict, which may be a fine-tuned copy with another class
    count (its classifier's rows say how many): (network, state, source, classes)."""
    import torchvision

    if arch not in torchvision.models.list_models(module=torchvision.models):
        known = torchvision.models.list_models(module=torchvision.models)
        close = [n for n in known if arch.lower() in n][:6]
        raise ModelUnavailableError(f"torchvision has no classification architecture {arch!r}"
                                    + (f"; did you mean: {', '.join(close)}?" if close else ""))
    if weights is not None:
        state = load_state_dict(weights)
        source = str(weights)
    else:
        state, source = _torchvision_state(torchvision.models.get_model_weights(arch).DEFAULT)
    probe = torchvision.models.get_model(arch, weights=None)
    last = [name for name, m in probe.named_modules() if isinstance(m, nn.Linear)][-1]
    classes = int(state[f"{last}.weight"].shape[0]) if f"{last}.weight" in state else 1000
    kwargs: dict = {"num_classes": classes}
    if arch in ("googlenet", "inception_v3"):
        kwargs |= {"aux_logits": False, "init_weights": False}
        state = {k: v for k, v in state.items() if not k.startswith("Aux") and not k.startswith("aux")}
    net = torchvision.models.get_model(arch, weights=None, **kwargs)
    if hasattr(net, "transform_input"):
        net.transform_input = True  # as torchvision sets it for its pretrained weights (and copies tuned from them)
    apply_state_dict(net, state, source)
    return net, state, source, classes


def torchvision_spec(arch: str) -> PreprocessSpec:
    """The preprocessing of a torchvision classifier's default weights (no weights loaded)."""
    import torchvision

    try:
        t = torchvision.models.get_model_weights(arch).DEFAULT.transforms()
    except (ValueError, KeyError) as exc:
        raise ModelUnavailableError(f"torchvision has no classifier named {arch!r}") from exc
    return PreprocessSpec(resize=int(t.resize_size[0]), crop=int(t.crop_size[0]), mean=tuple(t.mean),
                          std=tuple(t.std))


def _torchvision_state(weights_enum) -> tuple[dict[str, torch.Tensor], str]:
    filename = weights_enum.url.rsplit("/", 1)[-1]
    cached = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if cached.is_file():
        return load_state_dict(cached), str(cached)
    try:
        state = weights_enum.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # URLError, timeouts, hash mismatch...
        raise ModelUnavailableError(
            f"weights for this model are not cached and could not be downloaded ({type(exc).__name__}). "
            f"Download {weights_enum.url} on a connected machine and put it at {cached}, "
            "or give a local state dict file (--weights PATH on the command line, weights= in Python)"
        ) from exc
    return state, weights_enum.url
