"""The one interface every model exposes: preprocessing spec, labels, and two capabilities.

- an *oracle* (`oracle_logits`: normalised inputs -> scores over its labels): every model
  has one; it is all a judge (or a query victim) needs, and it runs on the model's own
  runtime where it has one (onnxruntime for an ONNX file), so a verdict is what the
  user's service computes;
- a *differentiable path* (`features`, `head`), which the white-box, robust and transfer
  modes need; a model without one (an ONNX file no converter reads) is refused by them
  with the reason (`require_gradients`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ModelUnavailableError
from ..labels import LabelSet
from ..preprocess import PreprocessSpec, to_model_input


@dataclass
class Classifier:
    name: str
    spec: PreprocessSpec
    labels: LabelSet
    device: torch.device
    feature_layer: str
    fingerprint: str
    feature_net: nn.Module | None
    head_net: nn.Module | None
    weights_source: str = ""
    # The model's own runtime, normalised inputs -> logits (None: the torch path is it).
    runtime: Callable[[torch.Tensor], torch.Tensor] | None = None
    notes: tuple[str, ...] = ()  # what loading had to assume or could not do, said once at load
    title: str = ""  # a card's "name", for display; `name` is the spec that re-creates it
    # Channels-last inputs: faster for the shipped networks on the CPU; a user's graph may
    # reshape with view() and need contiguous NCHW.
    channels_last: bool = True
    channel_order: str = "RGB"  # what the network itself is fed (a BGR one gets its channels flipped)
    # The network takes only its own input size (reshapes to fixed sizes inside, as ONNX files
    # exported with a static shape do): larger views (transfer's input diversity) are
    # resized back to it.
    fixed_input: bool = False
    activation_bytes: int = 0  # one forward pass's intermediate tensors (0: within the shipped allowance)

    @property
    def differentiable(self) -> bool:
        return self.feature_net is not None and self.head_net is not None

    @property
    def display_name(self) -> str:
        return self.title or self.name

    def require_gradients(self, what: str) -> None:
        """ModelUnavailableError saying why `what` ("the transfer mode") cannot use this model."""
        if not self.differentiable:
            why = next((n for n in self.notes if "oracle only" in n), f"{self.name} has no differentiable path")
            raise ModelUnavailableError(f"{what} needs gradients through the model; {why}")

    def oracle_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of normalised inputs by the model's own runtime (no gradient needed)."""
        if self.runtime is not None:
            return self.runtime(x)
        return self.head(self.features(x))

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate feature vectors of *normalised* model inputs (N,3,crop,crop)."""
        if self.feature_net is None:
            self.require_gradients("its features (centroids, saliency)")
        return self.feature_net(self._layout(x))  # type: ignore[misc]

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        # On the CPU the weights are channels-last (load_model); a channels-last input keeps
        # oneDNN on its fast path for the 1x1 convolutions too (one torch thread, batch 1:
        # 7% less time per transfer step, bench numbers in docs/BENCHMARKS.md).
        fast = self.channels_last and self.device.type == "cpu"
        return x.contiguous(memory_format=torch.channels_last) if fast else x

    def head(self, feats: torch.Tensor) -> torch.Tensor:
        if self.head_net is None:
            self.require_gradients("its features (centroids, saliency)")
        return self.head_net(feats)  # type: ignore[misc]

    @property
    def tap_layers(self) -> tuple[str, ...]:
        """Layers whose pooled statistics `features_with_taps` can report ("head" always)."""
        if hasattr(self.feature_net, "forward_taps"):
            return tuple(f"stage{i}" for i in range(1, 8)) + ("head",)
        return ("head",)

    def features_with_taps(
        self, x: torch.Tensor, taps: tuple[str, ...], mix: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Penultimate features of normalised inputs plus pooled statistics of `taps`;
        `mix` moves stage statistics toward given centres on the way (see EfficientNetLite)."""
        missing = [t for t in (*taps, *(mix or {})) if t not in self.tap_layers]
        if missing:
            raise ModelUnavailableError(
                f"{self.name} has no layer {', '.join(missing)}; it has: {', '.join(self.tap_layers)}"
            )
        forward_taps = getattr(self.feature_net, "forward_taps", None)
        if forward_taps is not None:
            return forward_taps(self._layout(x), taps, mix)
        feats = self.features(x)
        return feats, ({"head": feats} if "head" in taps else {})

    def preprocess(self, x01: torch.Tensor) -> torch.Tensor:
        """Differentiable preprocessing of (N,3,H,W) images in [0,1] at any resolution."""
        return to_model_input(x01, self.spec)

    def logits(self, x01: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.preprocess(x01)))


def weights_fingerprint(state_dict: dict[str, torch.Tensor]) -> str:
    """Short hash of parameter names and values; identifies a set of weights."""
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        tensor = state_dict[key].detach().cpu().contiguous()
        digest.update(key.encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()[:16]
