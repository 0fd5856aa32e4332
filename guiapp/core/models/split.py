"""Cut a user's network into `features` and `head` (what centroids and saliency need).

The feature layer is the input of the last linear layer, as in every classifier guiapp
ships. A network whose output is not a linear layer's (a 1x1 convolution then a reshape,
as in networks converted from TFLite) keeps its logits as its "features": the attack
works the same; centroids are then built in logit space, and the card or the load note
says so. Every cut is checked on a probe input: head(features(x)) must equal the
network's output, or the cut is not used.
"""

from __future__ import annotations

import copy
import operator
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import fx, nn

LOGITS_LAYER = "logits (no linear last layer to split at)"
_UNDO: dict[int, Callable[[], None]] = {}  # how to take back an in-place cut that failed its check


class ChannelFlip(nn.Module):
    """RGB -> BGR after normalisation, for a network trained on BGR input (Caffe's)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flip(1)


class FirstOutput(nn.Module):
    """A network that returns a tuple or a dict (logits, aux...) reduced to its logits."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return first_tensor(self.net(x))


class Quiet(nn.Module):
    """Silences a converted network's warnings on every call (onnx2torch's modules warn
    about tensor indexing by lists): a user cannot act on them, and the test suite turns
    warnings into errors."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.net(x)


def freeze(net: nn.Module) -> nn.Module:
    """Inference mode and no parameter gradients. Set per module: a torch.export program's
    module refuses eval() ("Calling train() is not supported"), though it already is one."""
    for module in net.modules():
        module.training = False
    return net.requires_grad_(False)


def first_tensor(out: object) -> torch.Tensor:
    """The logits of a network's output: the tensor itself, the first of a tuple/list, or a
    dict's "logits" (Hugging Face) / first value."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict) or hasattr(out, "logits"):
        value = getattr(out, "logits", None)
        if value is None and isinstance(out, dict):
            value = out.get("logits", next(iter(out.values()), None))
        return first_tensor(value)
    if isinstance(out, (tuple, list)) and out:
        return first_tensor(out[0])
    raise TypeError(f"the network returned {type(out).__name__}, not a tensor of logits")


def split_features(net: nn.Module, probe: torch.Tensor) -> tuple[nn.Module, nn.Module, str]:
    """(features, head, layer description) for `net` taking normalised inputs like `probe`."""
    if isinstance(net, Quiet):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            feats, head, layer = split_features(net.net, probe)
        return Quiet(feats), head, layer
    with torch.no_grad():
        reference = first_tensor(net(probe))
    for cut in (_split_module_linear, _split_graph_linear):
        try:
            found = cut(net)
        except Exception:  # noqa: BLE001 - an odd graph is not an error: the logits still work
            found = None
        if found is None:
            continue
        feats, head, layer = found
        try:
            with torch.no_grad():
                again = head(feats(probe))
        except Exception:  # noqa: BLE001
            _UNDO.pop(id(net), lambda: None)()
            continue
        if again.shape == reference.shape and torch.allclose(again, reference, rtol=1e-4, atol=1e-4):
            _UNDO.pop(id(net), None)
            return feats, head, layer
        _UNDO.pop(id(net), lambda: None)()
    return FirstOutput(net), nn.Identity(), LOGITS_LAYER


def _split_module_linear(net: nn.Module) -> tuple[nn.Module, nn.Module, str] | None:
    """A module tree whose last nn.Linear produces the logits: swap it for Identity."""
    if isinstance(net, (fx.GraphModule, torch.jit.ScriptModule)):
        return None
    last = None
    for name, module in net.named_modules():
        if isinstance(module, nn.Linear):
            last = name
    if last is None:
        return None
    # In place, not on a copy: a copy doubles a large model's memory while it loads. The
    # caller has its reference output already; a cut that does not check out is undone.
    head = net.get_submodule(last)
    net.set_submodule(last, nn.Identity())
    _UNDO[id(net)] = lambda: net.set_submodule(last, head)
    return FirstOutput(net), head, f"input of {last} ({head.in_features})"


_LINEAR_FUNCTIONS: tuple[Callable, ...] = (F.linear, torch.ops.aten.linear.default, torch._C._nn.linear)


def _split_graph_linear(net: nn.Module) -> tuple[nn.Module, nn.Module, str] | None:
    """An fx graph (torch.export's module(), onnx2torch's output) whose output is a linear
    call: the features graph returns that call's input; the head is the call."""
    if isinstance(net, FirstOutput):
        net = net.net
    if not isinstance(net, fx.GraphModule):
        return None
    output = next(n for n in net.graph.nodes if n.op == "output")
    result = output.args[0]
    if isinstance(result, (tuple, list)):
        if len(result) != 1:
            return None
        result = result[0]
    if not isinstance(result, fx.Node):
        return None
    weight: torch.Tensor | None
    bias: torch.Tensor | None
    if result.op == "call_module" and isinstance(net.get_submodule(str(result.target)), nn.Linear):
        linear = net.get_submodule(str(result.target))
        assert isinstance(linear, nn.Linear)
        weight, bias = linear.weight, linear.bias
    elif result.op == "call_function" and result.target in _LINEAR_FUNCTIONS:
        args = (*result.args[1:3], None)
        weight, bias = _attr(net, args[0]), _attr(net, args[1])
        if weight is None:
            return None
        linear = nn.Linear(int(weight.shape[1]), int(weight.shape[0]), bias=bias is not None)
        with torch.no_grad():
            linear.weight.copy_(weight)
            if bias is not None:
                linear.bias.copy_(bias)
        freeze(linear)
    else:
        return None
    head: nn.Module = linear
    feature_node = result.args[0]
    if not isinstance(feature_node, fx.Node):
        return None
    feats = fx.GraphModule(net, copy.deepcopy(net.graph))
    by_name = {n.name: n for n in feats.graph.nodes}
    new_output = next(n for n in feats.graph.nodes if n.op == "output")
    # Keep the output's nesting: torch.export's module unflattens it with a pytree spec.
    wrapped = isinstance(output.args[0], (tuple, list))
    new_output.args = (((by_name[feature_node.name],),) if wrapped else (by_name[feature_node.name],))
    feats.graph.eliminate_dead_code()
    feats.recompile()
    return feats, head, f"input of the last linear layer ({linear.in_features})"


def _attr(net: fx.GraphModule, arg: object) -> torch.Tensor | None:
    if isinstance(arg, fx.Node) and arg.op == "get_attr":
        value = operator.attrgetter(str(arg.target))(net)
        return value if isinstance(value, torch.Tensor) else None
    return None
