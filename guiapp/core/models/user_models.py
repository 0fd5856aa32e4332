"""A user's own classifier from one string (a model spec), with its card.

    torchvision:NAME        any torchvision classification architecture (its weights enum:
                            the torch cache, a download when online, or --weights FILE,
                            which may be a fine-tuned copy with another class count)
    timm:NAME               any timm architecture (the [timm] extra; weights from timm's
                            cache or --weights FILE)
    PATH.pt / .ts / .jit    a TorchScript file
    PATH.pt2                a torch.export program
    PATH.onnx               an ONNX file (the [onnx] extra): differentiable through
                            onnx2torch, checked against onnxruntime (onnx_model.py)
    PATH.json               a model card whose "model" field names one of the above

A file's card is PATH with the suffix .json beside it (card.py). The spec string is the
model's name everywhere (reports, PNG metadata, batch workers and Ray re-create the model
from it), so a file is named by its absolute path.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import ModelUnavailableError
from ..labels import LabelSet, imagenet_labels
from ..model_specs import FILE_SUFFIXES, SCHEMES, TORCHSCRIPT_SUFFIXES, is_user_spec  # noqa: F401 - re-exported
from ..preprocess import PreprocessSpec
from .activations import activation_bytes
from .card import ModelCard, card_path_for, read_card
from .classifier import Classifier, weights_fingerprint
from .hub_models import file_fingerprint, huggingface_model, processor_card, timm_model
from .split import LOGITS_LAYER, ChannelFlip, FirstOutput, freeze, split_features
from .weights import load_state_dict, what_file_is

ALLOW_PICKLE_ENV = "GUIAPP_ALLOW_PICKLE"
MAX_MODEL_FILE_BYTES = 8 << 30


@dataclass(frozen=True)
class ModelSource:
    """Where a user's model comes from: its kind, the architecture or file, its card."""

    kind: str  # torchvision | timm | torchscript | export | onnx
    target: str  # the architecture name, or the file's absolute path
    card: Path | None  # the card file, if any
    text: str  # the spec as the model's name


def parse_spec(text: str) -> ModelSource:
    text = text.strip()
    scheme, _, rest = text.partition(":")
    if rest and scheme.lower() in SCHEMES and not Path(text).exists():
        if not rest.strip():
            raise ModelUnavailableError(f"{text!r}: name an architecture after '{scheme}:' (e.g. {scheme}:resnet50)")
        return ModelSource(scheme.lower(), rest.strip(), None, f"{scheme.lower()}:{rest.strip()}")
    given = Path(text).expanduser().absolute()  # the name the user gave (a link, maybe)
    path = given.resolve()
    if path.is_dir():
        if (path / "config.json").is_file():
            own = path / "guiapp-card.json"  # a card of our own may sit in the folder too
            return ModelSource("huggingface", str(path), own if own.is_file() else None, str(path))
        raise ModelUnavailableError(
            f"{path} is a folder without a config.json: name the model file in it (.onnx, .pt, .pt2) or its card "
            "(.json), or give a Hugging Face save_pretrained folder")
    if not path.is_file():
        raise ModelUnavailableError(f"model file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".json":
        described = read_card(path).model
        if described is None:
            raise ModelUnavailableError(f"model card {path} has no \"model\" field naming the model it describes; "
                                        "name the model file instead (its card is found beside it)")
        inner = parse_spec(described)
        return ModelSource(inner.kind, inner.target, path, str(path))
    kinds = {".onnx": "onnx", ".pt2": "export", **{s: "torchscript" for s in TORCHSCRIPT_SUFFIXES}}
    if suffix not in kinds:
        raise ModelUnavailableError(f"{path}: unknown model format {suffix or '(no suffix)'}; guiapp reads "
                                    f"{', '.join(FILE_SUFFIXES)} files, torchvision:NAME and timm:NAME")
    # The card beside the name given first: a link to a shared model file with a card of the
    # user's own beside the link was read with the card beside the file (walked).
    sidecar = next((c for c in (card_path_for(given), card_path_for(path)) if c.is_file()), None)
    return ModelSource(kinds[suffix], str(path), sidecar, str(path))


def file_stamp(text: str) -> tuple:
    """What identifies the files behind a spec now (the model file and its card: path,
    size, modification time), so a model cache never serves a model whose card was edited."""
    try:
        source = parse_spec(text)
    except ModelUnavailableError:
        return ()
    paths = [p for p in (Path(source.target) if source.kind not in SCHEMES else None, source.card) if p]
    stamps = []
    for path in paths:
        try:
            st = path.stat()
            stamps.append((str(path), st.st_size, st.st_mtime_ns))
        except OSError:
            stamps.append((str(path), -1, -1))
    return tuple(stamps)


def user_input_spec(text: str) -> PreprocessSpec:
    """The preprocessing of a user's model from its card alone (no weights loaded): what a
    memory estimate needs before anything is loaded."""
    source = parse_spec(text)
    if source.kind == "torchvision" and source.card is None:
        from .torchvision_models import torchvision_spec

        return torchvision_spec(source.target)
    if source.kind == "huggingface" and source.card is None:
        return processor_card(Path(source.target), None).preprocess_spec()
    return read_card(source.card).preprocess_spec()


def load_user_model(text: str, device: torch.device, weights: Path | None = None) -> Classifier:
    source = parse_spec(text)
    card = read_card(source.card)
    if card.weights and weights is None:
        weights = Path(card.weights)
    notes: list[str] = []
    runtime = None
    if source.kind == "onnx":
        net, runtime, fingerprint, origin, card, why = _onnx(source, card, notes)
    elif source.kind in ("torchscript", "export"):
        net, fingerprint, origin = _torch_file(source)
        why = ""
    elif source.kind == "huggingface":
        net, fingerprint, origin, card = huggingface_model(Path(source.target), card)
        why = ""
    elif source.kind == "torchvision":
        net, fingerprint, origin, card = _torchvision(source, card, weights)
        why = ""
    else:
        net, fingerprint, origin, card = timm_model(source.target, card, weights)
        why = ""
    spec = card.preprocess_spec()
    probe = _probe(card)
    if net is not None:
        net = freeze(net)
        classes = _classes(net, probe, source)
    else:
        with torch.no_grad():
            classes = int(runtime(probe).shape[1])  # type: ignore[misc]
    labels = _labels(card, classes, source, notes)
    name = card.name or source.text
    note = card.assumed_note(name)
    if note:
        notes.append(note)
    if card.bgr:
        net = nn.Sequential(ChannelFlip(), net) if net is not None else None
        if runtime is not None:
            own = runtime
            runtime = lambda x: own(x.flip(1))  # noqa: E731 - the ORT runtime sees BGR too
    feats: nn.Module | None = None
    head: nn.Module | None = None
    layer = "none (an oracle only)"
    if net is not None:
        feats, head, layer = split_features(net, probe)
        if layer == LOGITS_LAYER:
            notes.append(f"{name}: its last layer is not linear, so its 'features' are its logits (centroids "
                         "are built in logit space)")
    else:
        notes.append(f"{name}: loaded as an oracle only ({why}): it can predict and judge; the attack modes need "
                     "gradients through a model and refuse it")
    model = Classifier(name=source.text, spec=spec, labels=labels, device=device, feature_layer=layer,
                       fingerprint=fingerprint, feature_net=feats, head_net=head, weights_source=origin,
                       runtime=runtime, notes=tuple(notes), title=card.name or "", channels_last=False,
                       channel_order=card.channel_order)
    if feats is not None and head is not None:
        # counted on the torch path the attack runs (guiapp.core.memory's estimates add it)
        model.activation_bytes = activation_bytes(lambda x: head(feats(x)), card.input_size)
        model.fixed_input = not _takes_other_sizes(lambda x: head(feats(x)), card.input_size)
    if model.device.type != "cpu" and runtime is not None and feats is None:
        model.device = torch.device("cpu")  # onnxruntime runs on the CPU here
    return model


def _takes_other_sizes(logits, side: int) -> bool:
    """Does the network run on an input larger than its own (what input diversity feeds)?"""
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logits(torch.zeros(1, 3, side + 24, side + 24))
    except Exception:  # noqa: BLE001 - a fixed reshape inside fails in its own way
        return False
    return True


def _probe(card: ModelCard) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(2, 3, card.input_size, card.input_size, generator=generator)


def _classes(net: nn.Module, probe: torch.Tensor, source: ModelSource) -> int:
    from .split import first_tensor

    try:
        with torch.no_grad():
            out = first_tensor(net(probe))
    except Exception as exc:  # noqa: BLE001 - any network error on the card's input size
        raise ModelUnavailableError(
            f"{source.text} failed on a {probe.shape[-1]}x{probe.shape[-1]} input: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''} "
            "(does the card's input_size match the model?)") from exc
    if out.dim() != 2 or out.shape[0] != probe.shape[0]:
        raise ModelUnavailableError(f"{source.text} returned a tensor of shape {tuple(out.shape)} for a batch of "
                                    f"{probe.shape[0]}; a classifier returns (batch, classes) logits")
    return int(out.shape[1])


def _labels(card: ModelCard, classes: int, source: ModelSource, notes: list[str]) -> LabelSet:
    if card.labels is not None:
        if len(card.labels) != classes:
            raise ModelUnavailableError(
                f"the card ({card.source}) lists {len(card.labels)} labels but {source.text} has {classes} outputs: "
                "the labels are for another model, or the card points at the wrong file")
        return LabelSet.from_names(card.labels)
    return imagenet_labels() if classes == 1000 else LabelSet.numbered(classes)


def _check_size(path: Path) -> None:
    size = path.stat().st_size
    if size > MAX_MODEL_FILE_BYTES:
        raise ModelUnavailableError(f"{path} is {size / 2**30:.1f} GiB; guiapp loads model files up to "
                                    f"{MAX_MODEL_FILE_BYTES >> 30} GiB")


def _onnx(source: ModelSource, card: ModelCard, notes: list[str]):
    from .onnx_model import load_onnx

    path = Path(source.target)
    _check_size(path)
    flip = card.bgr
    probe = _probe(card)
    loaded = load_onnx(path, card.input_size, probe.flip(1) if flip else probe)
    return loaded.net, loaded.runtime, file_fingerprint(path), str(path), card, loaded.why_not_differentiable


def _torch_file(source: ModelSource) -> tuple[nn.Module, str, str]:
    path = Path(source.target)
    _check_size(path)
    if source.kind == "export":
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                program = torch.export.load(str(path))
        except Exception as exc:  # noqa: BLE001 - torch.export raises many kinds for a bad file
            raise ModelUnavailableError(f"{path} is not a torch.export program (.pt2): "
                                        f"{type(exc).__name__}: {str(exc)[:160]}") from exc
        return FirstOutput(program.module()), file_fingerprint(path), str(path)
    if _is_torchscript(path):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch 2.14 deprecates TorchScript; users still have the files
                net = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:  # noqa: BLE001
            raise ModelUnavailableError(f"{path} looks like TorchScript but does not load: "
                                        f"{type(exc).__name__}: {str(exc)[:160]}") from exc
        return FirstOutput(net), file_fingerprint(path), str(path)
    return _pickled_module(path), file_fingerprint(path), str(path)


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(n.endswith(("/constants.pkl", "/code/")) or "/code/" in n for n in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _pickled_module(path: Path) -> nn.Module:
    """A file saved with torch.save(model): a state dict needs an architecture; a whole
    pickled module runs code from the file when loaded, so it needs the user's consent."""
    try:
        state = load_state_dict(path)
    except ModelUnavailableError as exc:
        if os.environ.get(ALLOW_PICKLE_ENV) != "1":
            raise ModelUnavailableError(
                f"{path} is not TorchScript, torch.export or a plain state dict ({exc}). If it is a whole model "
                f"saved with torch.save(model): loading it runs code from the file, so guiapp refuses it unless "
                f"you trust the file and set {ALLOW_PICKLE_ENV}=1; better, export it (torch.jit.script/trace, "
                "torch.export or torch.onnx.export)") from exc
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc2:  # noqa: BLE001
            raise ModelUnavailableError(f"{path}: {what_file_is(path, exc2)}") from exc2
        if not isinstance(obj, nn.Module):
            raise ModelUnavailableError(f"{path} holds a {type(obj).__name__}, not a model") from exc
        return FirstOutput(obj)
    raise ModelUnavailableError(
        f"{path} is a state dict ({len(state)} tensors) without its architecture: name the architecture and give "
        f"the file as its weights, e.g. --model torchvision:resnet50 --weights {path.name}, or a card with "
        "\"model\" and \"weights\"")


def _torchvision(source: ModelSource, card: ModelCard, weights: Path | None):
    from .torchvision_models import build_torchvision, torchvision_spec

    net, state, origin, classes = build_torchvision(source.target, weights)
    if card.source == "no card":
        # No card: the preprocessing of the architecture's own weights, exactly (not assumed).
        spec = torchvision_spec(source.target)
        card = ModelCard(input_size=spec.crop, resize=spec.resize, crop=spec.crop, pixel_range=(0.0, 1.0),
                         mean=spec.mean, std=spec.std, source=f"torchvision's {source.target} weights",
                         assumed=("labels",) if classes != 1000 else ())
    return net, weights_fingerprint(state), origin, card
