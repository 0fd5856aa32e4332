"""How much memory a model's own activations take: counted, not assumed.

The attacks' memory estimates (guiapp.core.memory) were measured with EfficientNet-Lite0,
whose forward pass at 224 px produces ~68 MiB of intermediate tensors. A user's model may
produce far more (VGG-16: ~600 MiB), so each loaded user model is run once on a probe
while every operator's output is counted (a TorchDispatchMode: it sees every aten call,
whatever the module type: nn.Module, torch.export graph, onnx2torch graph, TorchScript),
and the estimates add what it exceeds Lite0 by, per crafting model.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

# The same count for EfficientNet-Lite0 at 224 px, batch 1 (the model the shipped
# constants were measured with): 67.8 MiB.
SHIPPED_ACTIVATION_BYTES = 68 * 2**20


class _CountOutputs(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self.bytes += t.numel() * t.element_size()
        return out


def activation_bytes(logits: Callable[[torch.Tensor], torch.Tensor], side: int) -> int:
    """Bytes of every intermediate tensor one forward pass of a side x side image makes."""
    counter = _CountOutputs()
    try:
        with torch.no_grad(), counter:
            logits(torch.zeros(1, 3, side, side))
    except Exception:  # noqa: BLE001 - a runtime the mode cannot follow: the shipped allowance
        return 0
    return counter.bytes


def extra_bytes(measured: int) -> int:
    """What a model's activations need beyond the allowance the estimates already make."""
    return max(0, measured - SHIPPED_ACTIVATION_BYTES)
