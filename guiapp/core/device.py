"""Which torch device to run on: CUDA when present, CPU otherwise, or the user's choice."""

from __future__ import annotations

import torch

from .errors import GuiappError


def pick_device(requested: str | None = None) -> torch.device:
    if not requested or requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as exc:
        raise GuiappError(f"unknown device {requested!r}; use auto, cpu, cuda or cuda:N") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GuiappError(f"device {requested!r} requested but CUDA is not available on this machine")
    return device


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"
