"""Checks of the public functions' arguments: a caller's mistake becomes a GuiappError with
a one-line message, before any long work starts."""

from __future__ import annotations

import numbers
import os
from pathlib import Path

from .errors import GuiappError, LabelError
from .models import Classifier, load_model


def as_path(value: object, what: str) -> Path:
    """A clear error for a non-path argument (Path(None) would raise a bare TypeError)."""
    if isinstance(value, (str, os.PathLike)) and str(value):
        return Path(value)
    raise GuiappError(f"{what} must be a file path (str or Path), not {value!r}")


def as_model(model: object, device: str | None, weights: str | Path | None = None) -> Classifier:
    """A loaded classifier, or the named one loaded (and cached) on `device`."""
    if isinstance(model, Classifier):
        return model
    if not isinstance(model, str):
        raise GuiappError(f"model must be a model name (guiapp-cli models lists them) or a Classifier, not {model!r}")
    return load_model(model, device, weights)


def check_target(target: object) -> str | int:
    """Only a class name/synonym/WordNet id (str) or a class index (int) can name a class."""
    if isinstance(target, bool) or not isinstance(target, (str, numbers.Integral)):
        raise LabelError(
            f"target must be a class name, synonym or WordNet id (str) or a class index (int), "
            f"not {type(target).__name__} {target!r}"
        )
    return target if isinstance(target, str) else int(target)
