"""The model's input pipeline, twice: differentiable (for the attack) and via PIL (the judge).

The attack's perturbation lives at the image's original resolution, so the gradient must
flow through the same resize/crop/normalise that any other program applies to the saved
file. `torch.nn.functional.interpolate(..., antialias=True)` implements PIL's bilinear
(triangle filter widened by the scale factor), so the two paths agree to within the
8-bit rounding PIL does between its horizontal and vertical passes; tests check this.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


@dataclass(frozen=True)
class PreprocessSpec:
    resize: int  # shorter side after resizing
    crop: int  # centre crop size (square)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    # True: the whole image is resized to crop x crop (aspect not kept) and nothing is cut,
    # as some models' cards ask ("resize_mode": "squash").
    squash: bool = False

    def __post_init__(self) -> None:
        # The short side is resized to `resize`, so a centre crop never needs padding.
        if self.squash and self.resize != self.crop:
            raise ValueError(f"a squashing spec resizes to its crop: resize {self.resize} != crop {self.crop}")
        if self.resize < self.crop:
            raise ValueError(f"resize {self.resize} must be >= crop {self.crop}")

    def resized_size(self, height: int, width: int) -> tuple[int, int]:
        """torchvision's rule for Resize(int): short side -> resize, long side truncated."""
        if self.squash:
            return self.crop, self.crop
        if width <= height:
            return int(self.resize * height / width), self.resize
        return self.resize, int(self.resize * width / height)

    def crop_box(self, height: int, width: int) -> tuple[int, int]:
        """(top, left) of the centre crop in the resized image, as torchvision computes it."""
        h, w = self.resized_size(height, width)
        return int(round((h - self.crop) / 2.0)), int(round((w - self.crop) / 2.0))


PM1 = PreprocessSpec(256, 224, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
IMAGENET = PreprocessSpec(256, 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def image_to_tensor(rgb: np.ndarray, device: torch.device | str | None = None) -> torch.Tensor:
    """(H,W,3) uint8 -> (1,3,H,W) float32 in [0, 1]."""
    rgb = np.ascontiguousarray(rgb)
    if not rgb.flags.writeable:  # np.asarray(PIL image) is read-only; torch warns about sharing it
        rgb = rgb.copy()
    x = torch.from_numpy(rgb).to(device)
    return x.permute(2, 0, 1).unsqueeze(0).float().div_(255)


def tensor_to_image(x: torch.Tensor) -> np.ndarray:
    """First image of (N,3,H,W) in [0, 1] -> (H,W,3) uint8, rounded to the nearest level."""
    return (x.detach()[0].permute(1, 2, 0) * 255).round().clamp(0, 255).byte().cpu().numpy()


def _stats(spec: PreprocessSpec, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.tensor(spec.mean, device=like.device, dtype=like.dtype).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, device=like.device, dtype=like.dtype).view(1, 3, 1, 1)
    return mean, std


def normalise(x: torch.Tensor, spec: PreprocessSpec) -> torch.Tensor:
    """[0,1] images (N,3,H,W) -> the model's input scaling."""
    mean, std = _stats(spec, x)
    return (x - mean) / std


def denormalise(x: torch.Tensor, spec: PreprocessSpec) -> torch.Tensor:
    """Inverse of `normalise`."""
    mean, std = _stats(spec, x)
    return x * std + mean


def to_model_crop(x: torch.Tensor, spec: PreprocessSpec) -> torch.Tensor:
    """Differentiable: (N,3,H,W) in [0,1] at any size -> the (N,3,crop,crop) crop, still in [0,1]."""
    h, w = x.shape[-2:]
    rh, rw = spec.resized_size(h, w)
    if (rh, rw) != (h, w):
        x = F.interpolate(x, size=(rh, rw), mode="bilinear", antialias=True, align_corners=False)
    top, left = spec.crop_box(h, w)
    return x[..., top : top + spec.crop, left : left + spec.crop]


def to_model_input(x: torch.Tensor, spec: PreprocessSpec) -> torch.Tensor:
    """Differentiable: (N,3,H,W) in [0,1] at any size -> normalised (N,3,crop,crop)."""
    return normalise(to_model_crop(x, spec), spec)


def pil_model_input(image: Image.Image, spec: PreprocessSpec) -> torch.Tensor:
    """The standard PIL path (torchvision's Resize/CenterCrop/ToTensor/Normalize) -> (1,3,c,c).

    Written with PIL directly so the judge does not depend on torchvision's transforms.
    """
    image = image.convert("RGB")
    w, h = image.size
    rh, rw = spec.resized_size(h, w)
    if (rh, rw) != (h, w):
        image = image.resize((rw, rh), Image.Resampling.BILINEAR)
    top, left = spec.crop_box(h, w)
    # Crop the 8-bit image before converting to float: the same numbers, but a thin strip's
    # upscaled image (60000x32 -> 480000x256) never exists as floats (12 bytes per pixel).
    arr = np.asarray(image.crop((left, top, left + spec.crop, top + spec.crop)), dtype=np.float32) / 255.0
    x = torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0)
    return normalise(x, spec)
