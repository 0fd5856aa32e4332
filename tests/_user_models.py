"""Small classifiers built inside the tests and written in the formats users bring
(TorchScript, torch.export, ONNX, a state dict, a pickled module), with cards and labels."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

# "date, dried date" is a full synonym string, as hosted models name their classes.
FRUITS = ["apple", "banana", "cherry", "mango", "elderberry", "fig", "grape", "kiwi", "lemon", "date, dried date"]
COLOURS = ["red", "green", "blue"]


def tiny_cnn(classes: int = len(FRUITS), seed: int = 0) -> nn.Module:
    """A random small CNN with a linear last layer (so its features can be cut there)."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, classes),
    ).eval()
    with torch.no_grad():
        net[-1].weight.mul_(30)  # confident enough that small noise moves it, as a trained net is
    return net


class ColourNet(nn.Module):
    """Knows three classes by the mean colour: red, green, blue (a model that is right on
    solid-colour photos when, and only when, its preprocessing is right)."""

    def __init__(self) -> None:
        super().__init__()
        self.mix = nn.Conv2d(3, 3, 1, bias=False)
        self.fc = nn.Linear(3, 3)
        with torch.no_grad():
            self.mix.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.fc.weight.copy_(4 * torch.eye(3))
            self.fc.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.mix(x).mean((2, 3)))


def write_card(path: Path, **fields) -> Path:
    card = {"input_size": 32, "resize": 36, "crop": 32, "pixel_range": [0, 1], "mean": [0.5, 0.5, 0.5],
            "std": [0.25, 0.25, 0.25], "channel_order": "RGB", **fields}
    path.write_text(json.dumps(card))
    return path


def export_all(net: nn.Module, folder: Path, stem: str, size: int = 32, opset: int | None = None) -> dict[str, Path]:
    """The same network as TorchScript (.pt), torch.export (.pt2) and ONNX (.onnx, at the
    exporter's default opset unless `opset`)."""
    folder.mkdir(parents=True, exist_ok=True)
    x = torch.randn(2, 3, size, size)
    out = {"torchscript": folder / f"{stem}.pt", "export": folder / f"{stem}.pt2", "onnx": folder / f"{stem}.onnx"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(net, x[:1]), str(out["torchscript"]))
        batch = torch.export.Dim("batch", min=1, max=64)
        torch.export.save(torch.export.export(net, (x,), dynamic_shapes=({0: batch},)), str(out["export"]))
        torch.onnx.export(net, x[:1], str(out["onnx"]), input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False,
                          **({"opset_version": opset} if opset else {}))
    return out


def fruit_onnx(folder: Path) -> Path:
    """The 10-class CNN as an ONNX file with its card and a labels file, in `folder`."""
    (folder / "fruits.txt").write_text("\n".join(FRUITS) + "\n")
    path = export_all(tiny_cnn(), folder / "m", "fruit")["onnx"]
    write_card(path.with_suffix(".json"), labels="../fruits.txt")
    return path


def colour_photos(folder: Path, per_class: int = 3, size: tuple[int, int] = (48, 40)) -> Path:
    """`<colour>_<n>.png` photos: mostly one colour, with some grain."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for c, name in enumerate(COLOURS):
        for n in range(per_class):
            pixels = rng.integers(0, 90, (size[1], size[0], 3))
            pixels[..., c] = rng.integers(170, 256, (size[1], size[0]))
            Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{name}_{n}.png")
    return folder


def photo(path: Path, seed: int = 1, size: tuple[int, int] = (60, 44)) -> Path:
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, size[0])[None, :, None] * np.ones((size[1], 1, 3))
    pixels = np.clip(base + rng.normal(0, 30, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path
