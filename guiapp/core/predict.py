"""Classify images the way any other program would: the standard PIL preprocessing.

Every verdict guiapp reports (the source class, what the saved file is classified as, the
judges' opinions) comes from here, never from the attack's own differentiable view.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .arguments import as_model, as_path
from .imageio import MAX_PIXELS, LoadedImage, load_image
from .memory import Estimate, Footprint, check_memory, predict_bytes
from .models import Classifier
from .models.activations import extra_bytes
from .preprocess import image_to_tensor, normalise, pil_model_input


@dataclass(frozen=True)
class Prediction:
    index: int
    name: str
    confidence: float


def classify_pil(model: Classifier, image: Image.Image) -> torch.Tensor:
    """Softmax probabilities of an image through the model's standard PIL preprocessing."""
    with torch.no_grad():
        x = pil_model_input(image, model.spec).to(model.device)
        return model.oracle_logits(x).softmax(1)[0].cpu()


def classify_view(model: Classifier, view: np.ndarray) -> torch.Tensor:
    """Softmax of an 8-bit image that already is the model's input crop (no resize)."""
    x = image_to_tensor(view, model.device)
    with torch.no_grad():
        return model.oracle_logits(normalise(x, model.spec)).softmax(1)[0].cpu()


def top_k(model: Classifier, probs: torch.Tensor, k: int = 5) -> list[Prediction]:
    conf, idx = probs.topk(k)
    return [Prediction(int(i), model.labels[int(i)].name, float(c)) for c, i in zip(conf, idx, strict=True)]


def predict_image(model: Classifier, image: LoadedImage | np.ndarray, k: int = 5) -> list[Prediction]:
    """Top-k of an image through the model's standard PIL preprocessing."""
    rgb = image.rgb if isinstance(image, LoadedImage) else image
    return top_k(model, classify_pil(model, Image.fromarray(rgb)), k)


def predict_estimate(model: Classifier) -> Estimate:
    """Bytes classifying a (width, height) image with `model` adds, decoding included."""
    extra = extra_bytes(model.activation_bytes)
    return lambda width, height: predict_bytes(Footprint.of(width, height, [model.spec], extra))


def load_for_prediction(path: str | Path, model: Classifier, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Load an image to classify, refusing from its header, before decoding it, one over
    `max_pixels` or whose classification would not fit in memory (a thin strip that the
    model's resize upscales: MemoryLimitError)."""
    def fits(width: int, height: int) -> None:
        check_memory(predict_estimate(model), width, height, model.device, "a classification")

    return load_image(path, max_pixels, before_decode=fits)


def predict_file(
    path: str | Path,
    model: str | Classifier = "efficientnet-lite0",
    k: int = 5,
    device: str | None = None,
    *,
    max_pixels: int = MAX_PIXELS,
) -> list[Prediction]:
    """Top-k of an image file; images over `max_pixels`, or whose classification would not
    fit in memory, are refused before decoding them."""
    clf = as_model(model, device)
    return predict_image(clf, load_for_prediction(as_path(path, "image"), clf, max_pixels), k)
