"""Will an attack fit in memory? Asked from the image's header, before it is decoded.

The estimate of an attack (guiapp.core.memory) needs the image's size and the resize of
every model that crafts on it; both are known before anything is loaded or decoded:
the size from the file's header, the resize from the model registry (`input_spec`). The
pipeline (`attack_file`, `plan_attack`), batch and the HTTP server all ask here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .arguments import as_model
from .attacks import AttackConfig, strategy_of
from .device import pick_device
from .imageio import MAX_PIXELS, LoadedImage, load_image
from .memory import Estimate, Footprint, MemoryCheck, check_memory
from .models import DEFAULT_MODEL, Classifier, input_spec, loaded_activation_bytes
from .models.activations import extra_bytes


def memory_estimate(config: Any, model: str | Classifier = DEFAULT_MODEL) -> Estimate:
    """Bytes an attack with `config` adds on a (width, height) image: its pixels and each
    crafting model's resized view (known without loading any weights)."""
    strategy = strategy_of(config)
    if not isinstance(model, (str, Classifier)):
        as_model(model, None)  # raises the GuiappError that says what a model argument may be
    name = model.name if isinstance(model, Classifier) else model
    names = strategy.crafter_names(config, name)
    specs = [model.spec if isinstance(model, Classifier) and n == model.name else input_spec(n) for n in names]
    extra = sum(extra_bytes(model.activation_bytes if isinstance(model, Classifier) and n == model.name
                            else loaded_activation_bytes(n)) for n in names)
    return lambda width, height: strategy.estimate_bytes(config, Footprint.of(width, height, specs, extra))


def check_fits(config: Any, width: int, height: int, device: torch.device | str | None,
               model: str | Classifier = DEFAULT_MODEL) -> MemoryCheck:
    """MemoryLimitError when the attack would not fit in the memory available now."""
    return check_memory(memory_estimate(config, model), width, height, device, f"a {config.mode} attack")


def device_of(model: str | Classifier, device: str | None) -> torch.device:
    return model.device if isinstance(model, Classifier) else pick_device(device)


def load_for_attack(path: str | Path, config: Any, model: str | Classifier = DEFAULT_MODEL,
                    device: str | None = None, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Load an image to attack, refusing from its header, before decoding it, an image whose
    attack with `config` would not fit in memory (MemoryLimitError) or is over `max_pixels`."""
    config = config if config is not None else AttackConfig()
    dev = device_of(model, device)
    return load_image(path, max_pixels, before_decode=lambda w, h: check_fits(config, w, h, dev, model))
