"""Reading a state dict from a file and fitting it to a network, with errors a user can act on."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from ..errors import ModelUnavailableError

WEIGHTS_EXPECTED = "expected a state dict saved with torch.save(model.state_dict(), PATH) (.pth or .pt)"


def what_file_is(path: Path, exc: Exception) -> str:
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


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.is_dir():
        raise ModelUnavailableError(f"weights file {path} is a folder; {WEIGHTS_EXPECTED}")
    if not path.is_file():
        raise ModelUnavailableError(f"weights file not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols: not for users
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types (KeyError: 101...) for bad files
        raise ModelUnavailableError(
            f"{path} is not a weights file: {what_file_is(path, exc)}; {WEIGHTS_EXPECTED}") from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        kind = "an empty dict" if isinstance(obj, dict) and not obj else (
            "a dict with non-tensor values" if isinstance(obj, dict) else f"a {type(obj).__name__}")
        raise ModelUnavailableError(f"{path} holds {kind}, not a state dict (name -> tensor); {WEIGHTS_EXPECTED}")
    return obj


def apply_state_dict(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    # torch's own message starts with a bare header line; say what differs, in one line.
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    resized = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    problems = [
        f"{len(keys)} {what} (e.g. {keys[0]!r})"
        for keys, what in ((missing, "missing keys"), (unexpected, "unexpected keys"),
                           (resized, "tensors of another shape"))
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
