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
    threads = torch.get_num_threads()
    return f"cpu ({threads} thread{'' if threads == 1 else 's'})"


PRECISIONS = ("auto", "float32", "bfloat16")
PRECISION_HELP = ("number format of the models' gradient passes: bfloat16 (faster where the CPU or GPU has it "
                  "natively), float32, or auto (bfloat16 where native); every verdict on the saved image stays "
                  "float32")


def fast_bfloat16(device: torch.device) -> bool:
    """Whether `device` runs bfloat16 convolutions natively (faster than float32): CUDA
    with bf16 support, or a CPU whose oneDNN has bf16 instructions (AVX512-BF16, AMX).
    Elsewhere bfloat16 is emulated and slower, so "auto" precision stays float32."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for a model's forward pass under `precision` ("float32",
    "bfloat16" or "auto": bfloat16 where `fast_bfloat16`), or None for plain float32."""
    if precision == "float32" or (precision == "auto" and not fast_bfloat16(device)):
        return None
    return torch.bfloat16
