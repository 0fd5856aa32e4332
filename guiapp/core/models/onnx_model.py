"""An ONNX file as a differentiable torch module (onnx2torch), checked against onnxruntime.

onnxruntime is the file's own runtime: it is what a service running the file computes, so
it classifies every saved result, and the converted module (through which gradients flow)
must agree with it on probe inputs or the file is refused with the largest difference.
Real exports are not tidy: `torch.onnx.export` writes parameters shared by two layers as
Identity nodes over one initializer, which onnx2torch 1.5 cannot convert
(KeyError 'net.1.params.t569'), so those aliases are folded first. A file that still will
not convert loads as an oracle only (onnxruntime): judges and prediction work, the
gradient modes say why they cannot.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...install_hints import extra_hint
from ..errors import ModelUnavailableError
from .split import Quiet

PROBES = 3
AGREEMENT = 1e-3  # largest |torch - onnxruntime| logit difference, relative to the logits' scale
CONVERTIBLE_OPSET = 17  # the newest opset onnx2torch 1.5 converts throughout
ONNX_EXTRA = f"{extra_hint('onnx')}: onnxruntime, onnx, onnx2torch"


@dataclass
class OnnxModel:
    runtime: Callable[[torch.Tensor], torch.Tensor]  # normalised NCHW -> logits, by onnxruntime
    net: nn.Module | None  # the differentiable copy, None when the file would not convert
    classes: int
    why_not_differentiable: str = ""


def _modules():
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise ModelUnavailableError(f"an ONNX model needs onnxruntime and onnx: {ONNX_EXTRA}") from exc
    return onnx, onnxruntime


def load_onnx(path: Path, input_size: int, probe: torch.Tensor) -> OnnxModel:
    """Load `path`; `probe` is a batch of normalised inputs at the card's size."""
    onnx, onnxruntime = _modules()
    try:
        proto = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise ModelUnavailableError(f"{path} is not an ONNX model ({type(exc).__name__}: "
                                    f"{str(exc)[:120]})") from exc
    fold_identity_aliases(proto)
    try:
        session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own Fail/InvalidGraph types
        raise ModelUnavailableError(f"onnxruntime cannot run {path}: {str(exc).splitlines()[0][:200]}") from exc
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelUnavailableError(f"{path} takes {len(inputs)} inputs; an image classifier takes one (NCHW)")
    _check_input_shape(path, inputs[0].shape, input_size)
    input_name = inputs[0].name

    def runtime(x: torch.Tensor) -> torch.Tensor:
        # One image at a time when the file fixes its batch size at 1.
        array = x.detach().float().cpu().numpy()
        fixed = isinstance(inputs[0].shape[0], int) and inputs[0].shape[0] == 1
        parts = [array[i : i + 1] for i in range(len(array))] if fixed else [array]
        outs = [np.asarray(session.run(None, {input_name: p})[0]) for p in parts]
        return torch.from_numpy(np.concatenate(outs)).reshape(len(array), -1).to(x.device)

    try:
        reference = runtime(probe)
    except Exception as exc:  # noqa: BLE001
        raise ModelUnavailableError(
            f"onnxruntime failed on a {input_size}x{input_size} input to {path}: {str(exc).splitlines()[0][:200]}"
            " (does the card's input_size match the model?)") from exc
    net, why = _convert(proto)
    if net is not None:
        with torch.no_grad():
            ours = net(probe).reshape(len(probe), -1)
        scale = max(1.0, float(reference.abs().max()))
        diff = float((ours - reference).abs().max()) if ours.shape == reference.shape else float("inf")
        if diff > AGREEMENT * scale:
            raise ModelUnavailableError(
                f"{path}: the converted model disagrees with onnxruntime (largest logit difference {diff:.3g}, "
                f"logits up to {scale:.3g}); refusing it rather than attacking a different network")
    return OnnxModel(runtime=runtime, net=net, classes=int(reference.shape[1]), why_not_differentiable=why)


def _check_input_shape(path: Path, shape: list, input_size: int) -> None:
    dims = list(shape)
    if len(dims) != 4:
        raise ModelUnavailableError(f"{path} takes a {len(dims)}-d input {dims}; an image classifier takes NCHW")
    channels, height, width = dims[1:]
    if isinstance(channels, int) and channels != 3:
        raise ModelUnavailableError(f"{path} takes {channels} channels (NCHW input {dims}); guiapp feeds RGB (3)")
    fixed = [d for d in (height, width) if isinstance(d, int)]
    if fixed and any(d != input_size for d in fixed):
        raise ModelUnavailableError(
            f"{path} takes {height}x{width} inputs but its card says input_size {input_size}: fix the card")


def fold_identity_aliases(proto) -> int:
    """Replace every use of an Identity node's output by its input and drop the node
    (outputs of the graph keep theirs). Returns how many were folded."""
    graph = proto.graph
    outputs = {o.name for o in graph.output}
    alias: dict[str, str] = {}
    kept = []
    for node in graph.node:
        if node.op_type == "Identity" and len(node.input) == 1 and node.output[0] not in outputs:
            alias[node.output[0]] = node.input[0]
        else:
            kept.append(node)
    if not alias:
        return 0

    def root(name: str) -> str:
        while name in alias:
            name = alias[name]
        return name

    for node in kept:
        for i, name in enumerate(node.input):
            if name in alias:
                node.input[i] = root(name)
    del graph.node[:]
    graph.node.extend(kept)
    return len(alias)


def _convert(proto) -> tuple[nn.Module | None, str]:
    """onnx2torch's module, or None and why. onnx2torch 1.5 knows the operators up to opset
    17 or so (torch.onnx.export writes 18+ today: 'Converter is not implemented (Constant,
    version 19)'), so a file it refuses is tried again converted down to opset 17 by onnx's
    own version converter."""
    try:
        import onnx2torch
    except ImportError:
        return None, f"onnx2torch is not installed ({ONNX_EXTRA})"
    first = ""
    for attempt in (proto, CONVERTIBLE_OPSET):
        try:
            model = attempt if not isinstance(attempt, int) else _down_to(proto, attempt)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                net = onnx2torch.convert(model)
        except Exception as exc:  # noqa: BLE001 - converters raise anything (KeyError, NotImplementedError)
            first = first or f"onnx2torch cannot convert it ({type(exc).__name__}: {str(exc)[:120]})"
            continue
        return Quiet(net.eval()), ""
    return None, first


def _down_to(proto, opset: int):
    import onnx
    from onnx import version_converter

    current = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=opset)
    if current <= opset:
        raise ValueError(f"already at opset {current}")
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    return version_converter.convert_version(copy, opset)
