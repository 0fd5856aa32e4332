"""Architectures from the model hubs, as model specs: `timm:NAME` (weights from timm's
cache or a local state dict) and a Hugging Face `save_pretrained` folder (its id2label and
preprocessor config). Each returns (network, fingerprint, origin, card) like the file
loaders in user_models.py."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from pathlib import Path

import torch
from torch import nn

from ...install_hints import extra_hint
from ..errors import ModelUnavailableError
from .card import ModelCard
from .classifier import weights_fingerprint
from .weights import apply_state_dict, load_state_dict


def file_fingerprint(path: Path) -> str:
    """Short hash of a file's bytes: identifies the weights a user's model file holds."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def timm_model(name: str, card: ModelCard, weights: Path | None):
    try:
        import timm
    except ImportError as exc:
        raise ModelUnavailableError(f"timm:NAME needs timm: {extra_hint('timm')}") from exc
    if name not in timm.list_models():
        close = timm.list_models(f"*{name}*")[:5]
        raise ModelUnavailableError(f"timm has no architecture {name!r}"
                                    + (f"; did you mean: {', '.join(close)}?" if close else ""))
    state = load_state_dict(weights) if weights is not None else None
    classes = _state_classes(state) if state is not None else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if state is not None:
                net: nn.Module = timm.create_model(name, pretrained=False, num_classes=classes or 1000)
            else:
                net = timm.create_model(name, pretrained=True)
    except Exception as exc:  # noqa: BLE001 - hub errors of every kind when offline
        raise ModelUnavailableError(
            f"timm:{name}: its pretrained weights are not in timm's cache and could not be downloaded "
            f"({type(exc).__name__}); give a local state dict with --weights FILE") from exc
    if state is not None:
        apply_state_dict(net, state, str(weights))
    else:
        state = net.state_dict()
    if card.source == "no card":
        cfg: dict = dict(getattr(net, "pretrained_cfg", {}))
        size = int(cfg["input_size"][-1])
        card = ModelCard(input_size=size, resize=round(size / float(cfg.get("crop_pct", 0.875))), crop=size,
                         pixel_range=(0.0, 1.0), mean=tuple(cfg["mean"]), std=tuple(cfg["std"]),
                         source=f"timm's {name} config", assumed=("labels",) if classes not in (None, 1000) else ())
    return net, weights_fingerprint(state), str(weights) if weights else f"timm:{name} pretrained", card


class _HuggingFaceLogits(nn.Module):
    """transformers' image classifiers take pixel_values= and return an output object."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(pixel_values=x).logits


def huggingface_model(folder: Path, card: ModelCard):
    """A `save_pretrained` folder of an image classifier: its config's id2label are the
    labels, its preprocessor_config.json the preprocessing (a card overrides either)."""
    try:
        import transformers
    except ImportError as exc:
        raise ModelUnavailableError(f"a Hugging Face folder needs transformers: {extra_hint('huggingface')}") \
            from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = transformers.AutoModelForImageClassification.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - transformers raises many kinds for a folder it cannot read
        raise ModelUnavailableError(f"{folder} is not an image classifier transformers can load "
                                    f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from exc
    id2label = getattr(net.config, "id2label", None) or {}
    names = [str(id2label[i]) for i in sorted(id2label)] if id2label else None
    weights = next((folder / n for n in ("model.safetensors", "pytorch_model.bin") if (folder / n).is_file()), None)
    if card.source == "no card":
        card = processor_card(folder, names)
    elif card.labels is None and names:
        card = dataclasses.replace(card, labels=tuple(names))
    fingerprint = file_fingerprint(weights) if weights else weights_fingerprint(net.state_dict())
    return _HuggingFaceLogits(net), fingerprint, str(folder), card


def processor_card(folder: Path, names: list[str] | None) -> ModelCard:
    """A card read from transformers' preprocessor_config.json (resize by shortest edge, or
    to height x width; centre crop; rescale 1/255; mean/std)."""
    from .card import parse_card

    path = folder / "preprocessor_config.json"
    try:
        pre = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelUnavailableError(f"{path} is not valid JSON: {exc}") from exc
    raw: dict = {"labels": names} if names else {}
    raw["channel_order"] = "RGB"  # transformers' image processors feed RGB
    size = pre.get("size")
    crop = pre.get("crop_size")
    side = lambda v: v.get("height", v.get("shortest_edge")) if isinstance(v, dict) else v  # noqa: E731
    if isinstance(size, dict) and "shortest_edge" in size:
        if pre.get("crop_pct"):  # ConvNeXt's: resize to shortest_edge / crop_pct, crop shortest_edge
            raw |= {"input_size": size["shortest_edge"], "crop": size["shortest_edge"],
                    "resize": round(size["shortest_edge"] / pre["crop_pct"])}
        elif pre.get("do_center_crop", True) and crop is not None:
            raw |= {"input_size": side(crop), "crop": side(crop), "resize": size["shortest_edge"]}
        else:
            raw |= {"input_size": size["shortest_edge"], "resize_mode": "squash"}
    elif size is not None:
        if pre.get("do_center_crop") and crop is not None:
            raw |= {"input_size": side(crop), "crop": side(crop), "resize": side(size)}
        else:
            raw |= {"input_size": side(size), "resize_mode": "squash"}
    if "image_mean" in pre and "image_std" in pre:
        raw |= {"mean": list(pre["image_mean"]), "std": list(pre["image_std"]), "pixel_range": [0, 1]}
    return parse_card(raw, base=folder, source=str(path) if path.is_file() else f"{folder} (no preprocessor config)")


def _state_classes(state: dict[str, torch.Tensor]) -> int | None:
    """The class count of a state dict: the rows of its last 2-d weight (the classifier)."""
    matrices = [v for k, v in state.items() if k.endswith("weight") and v.dim() == 2]
    return int(matrices[-1].shape[0]) if matrices else None
