"""What a model spec string looks like, without importing torch (the CLI's --help, option
checks): a shipped name, `torchvision:NAME`, `timm:NAME`, or a model file or its card."""

from __future__ import annotations

import os

SCHEMES = ("torchvision", "timm")
TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".jit", ".torchscript")
FILE_SUFFIXES = (*TORCHSCRIPT_SUFFIXES, ".pt2", ".onnx", ".json")


def is_user_spec(text: str) -> bool:
    """Does `text` name a user's model (a scheme, a file path or suffix) rather than a
    shipped name? Decided from the text alone: nothing is read or looked up."""
    text = text.strip()
    scheme, sep, rest = text.partition(":")
    if sep and scheme.lower() in SCHEMES and rest.strip():
        return True
    return text.lower().endswith(FILE_SUFFIXES) or os.sep in text or "/" in text
