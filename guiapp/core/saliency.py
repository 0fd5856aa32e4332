"""What the model sees, and where it looks.

- `crop_rect`: the square of the original image the model classifies. The standard
  preprocessing resizes the short side (to 256 for the 224-px models) and keeps the
  centre crop, so nothing outside that square reaches the model, and the white-box
  attack's noise appears only inside it (the transfer mode's surrogates also see the
  whole photo: its noise covers all of it).
- `saliency`: a map over that crop of the evidence the model uses for a class, from the
  model's own layers: Grad-CAM (Selvaraju et al. 2017: the last convolution's
  activations weighted by the class score's mean gradient, rectified) or gradient x
  input (the class score's gradient times the centred input, summed over channels).
  Comparing the original's map for its class with the result's map for the target shows
  where the noise made the model find the target.

Qt-free; the window's "Model's view" tab and the HTML report draw these maps.
"""

from __future__ import annotations

import threading

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .defences.base import model_view
from .models import Classifier
from .preprocess import PreprocessSpec, image_to_tensor, normalise

METHODS = {"gradcam": "Grad-CAM (last convolution)", "gradxinput": "gradient × input"}


def crop_rect(spec: PreprocessSpec, height: int, width: int) -> tuple[float, float, float, float]:
    """(x, y, w, h) in the original image's pixels of the square the model classifies."""
    rh, rw = spec.resized_size(height, width)
    top, left = spec.crop_box(height, width)
    sy, sx = height / rh, width / rw
    return left * sx, top * sy, spec.crop * sx, spec.crop * sy


def last_conv(model: Classifier) -> nn.Module:
    """The model's last convolution (Grad-CAM's layer): the last Conv2d of its feature net."""
    if model.feature_net is None:
        raise ValueError(f"{model.name} is an oracle only: no layers to look into")
    convs = [m for m in model.feature_net.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError(f"{model.name} has no convolution for Grad-CAM")
    return convs[-1]


def _normalised(cam: torch.Tensor) -> np.ndarray:
    cam = cam - cam.min()
    top = float(cam.max())
    return (cam / top if top > 0 else cam).numpy().astype(np.float32)


def saliency(model: Classifier, rgb: np.ndarray, cls: int, method: str = "gradcam") -> np.ndarray:
    """(crop, crop) map in [0, 1] of the evidence for class `cls` in the 8-bit image `rgb`
    (full resolution; the model's standard crop of it is what is explained)."""
    if method not in METHODS:
        raise ValueError(f"unknown saliency method {method!r}; choose one of: {', '.join(METHODS)}")
    view = model_view(rgb, model.spec)
    x = normalise(image_to_tensor(view, model.device), model.spec).requires_grad_(True)
    if method == "gradxinput":
        with torch.enable_grad():
            score = model.head(model.features(x))[0, cls]
            grad, = torch.autograd.grad(score, x)
        return _normalised((grad * x.detach()).sum(1)[0].abs().cpu())
    # Grad-CAM: the hook records only this thread's pass (an attack may run the same model
    # in another thread meanwhile) and is removed before returning.
    me, taken = threading.get_ident(), {}

    def keep(_module, _inputs, output):
        if threading.get_ident() == me:
            taken["a"] = output

    handle = last_conv(model).register_forward_hook(keep)
    try:
        with torch.enable_grad():
            score = model.head(model.features(x))[0, cls]
            acts = taken["a"]
            grad, = torch.autograd.grad(score, acts)
    finally:
        handle.remove()
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * acts.detach()).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=view.shape[:2], mode="bilinear", align_corners=False)
    return _normalised(cam[0, 0].cpu())
