"""A model card: what a classifier file does not say about itself.

A network file holds weights and a graph, not its class names or how its input was
prepared; getting those wrong silently is the commonest failure of wrapped models
(accuracy near zero after wrapping). The card says them, as JSON beside the model file
(`NAME.json` for `NAME.onnx`, `NAME.pt`, ...; one card serves every format of that name):

    {
      "labels": "imagenet-labels.txt",   a text file (one name per line), a JSON list or
                                          id2label object, or the list itself
      "input_size": 224,                  the network's input is input_size x input_size
      "resize": 256, "crop": 224,         shorter side resized to `resize`, centre `crop`
      "pixel_range": [0, 255],            pixel values before normalisation: [0, 1] or [0, 255]
      "mean": [128, 128, 128],            per channel, in the channel order below
      "std": [128, 128, 128],
      "channel_order": "RGB"              or "BGR"
    }

guiapp's own fields, all optional: "resize_mode" ("crop", the default, or "squash": the
whole image resized to input_size x input_size, no crop), "model" (the file or spec the
card describes, relative to the card: a card can then be named as the model itself),
"weights" (a state dict for a `torchvision:` or `timm:` architecture), "name" (what
reports call the model). A field that had to be assumed is listed in `assumed`, and the
loader says so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ModelUnavailableError
from ..preprocess import PreprocessSpec

CARD_FIELDS = ("labels", "input_size", "resize", "crop", "pixel_range", "mean", "std", "channel_order",
               "resize_mode", "model", "weights", "name")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MAX_INPUT_SIDE = 1024  # a larger network input is almost surely a typo (and a memory bomb)
MAX_LABELS = 100_000
MAX_CARD_BYTES = 1 << 20
MAX_LABELS_BYTES = 16 << 20


@dataclass(frozen=True)
class ModelCard:
    """The card's fields, checked; `assumed` names what was not given and had to be guessed."""

    input_size: int
    resize: int
    crop: int
    pixel_range: tuple[float, float]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    channel_order: str = "RGB"
    resize_mode: str = "crop"
    labels: tuple[str, ...] | None = None
    model: str | None = None  # the model file or spec, resolved against the card's folder
    weights: str | None = None
    name: str | None = None
    source: str = "defaults"  # where the card came from, for messages
    assumed: tuple[str, ...] = field(default=())

    @property
    def bgr(self) -> bool:
        return self.channel_order == "BGR"

    def preprocess_spec(self) -> PreprocessSpec:
        """The card's normalisation as guiapp's RGB, [0, 1] spec; a BGR network gets its
        channels reversed after normalisation (ChannelFlip), so mean/std are reversed here."""
        scale = float(self.pixel_range[1] - self.pixel_range[0])
        offset = float(self.pixel_range[0])
        mean = tuple((m - offset) / scale for m in self.mean)
        std = tuple(s / scale for s in self.std)
        if self.bgr:
            mean, std = mean[::-1], std[::-1]
        return PreprocessSpec(resize=self.resize, crop=self.crop, mean=mean, std=std,  # type: ignore[arg-type]
                              squash=self.resize_mode == "squash")

    def assumed_note(self, model_name: str) -> str | None:
        if not self.assumed:
            return None
        return (f"{model_name}: the card ({self.source}) does not give {', '.join(self.assumed)}; assumed "
                + "; ".join(_ASSUMPTIONS[a] for a in self.assumed if a in _ASSUMPTIONS)
                + ". Write them in a card (docs/MODELS.md) if they are wrong")


_ASSUMPTIONS = {
    "input_size": "224 px",
    "resize": "the crop / 0.875 (the usual evaluation resize)",
    "crop": "the input size",
    "pixel_range": "[0, 1]",
    "mean": "ImageNet's mean",
    "std": "ImageNet's std",
    "channel_order": "RGB",
    "labels": "ImageNet's 1000 classes when the model has 1000 outputs, else 'class 0', 'class 1', ...",
}


def card_path_for(model_file: Path) -> Path:
    """The sidecar card of a model file: NAME.json beside NAME.onnx / NAME.pt / NAME.pt2."""
    return model_file.with_suffix(".json")


def read_card(path: Path | None, overrides: dict[str, Any] | None = None) -> ModelCard:
    """The card at `path` (None: no card), with `overrides` (e.g. from CLI flags) on top."""
    raw: dict[str, Any] = {}
    source = "no card"
    if path is not None:
        raw = _read_json(path, "model card")
        if not isinstance(raw, dict):
            raise ModelUnavailableError(f"model card {path} must hold a JSON object, not {type(raw).__name__}")
        source = str(path)
    raw = {**raw, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    unknown = sorted(set(raw) - set(CARD_FIELDS))
    if unknown:
        raise ModelUnavailableError(
            f"model card {source}: unknown field {', '.join(map(repr, unknown))}; a card has: {', '.join(CARD_FIELDS)}")
    return parse_card(raw, base=path.parent if path is not None else Path.cwd(), source=source)


def parse_card(raw: dict[str, Any], base: Path, source: str) -> ModelCard:
    assumed: list[str] = []
    where = f"model card {source}"

    def given(key: str) -> bool:
        if key in raw and raw[key] is not None:
            return True
        assumed.append(key)
        return False

    input_size = _side(raw["input_size"], "input_size", where) if given("input_size") else None
    crop = _side(raw["crop"], "crop", where) if given("crop") else None
    if input_size is None:
        input_size = crop or 224
    if crop is None:
        crop = input_size
    if crop != input_size:
        raise ModelUnavailableError(f"{where}: crop {crop} differs from input_size {input_size} (the network's "
                                    "input is the crop)")
    resize = _side(raw["resize"], "resize", where) if given("resize") else round(crop / 0.875)
    mode = raw.get("resize_mode", "crop")
    if mode not in ("crop", "squash"):
        raise ModelUnavailableError(f"{where}: resize_mode must be 'crop' or 'squash', not {mode!r}")
    if mode == "squash":
        resize = crop  # the whole image becomes the input; nothing is cut
        if "resize" in assumed:
            assumed.remove("resize")
    if resize < crop:
        raise ModelUnavailableError(f"{where}: resize {resize} is smaller than crop {crop}")
    pixel_range = _pair(raw["pixel_range"], where) if given("pixel_range") else (0.0, 1.0)
    mean = _triple(raw["mean"], "mean", where) if given("mean") else _scaled(IMAGENET_MEAN, pixel_range, True)
    std = _triple(raw["std"], "std", where) if given("std") else _scaled(IMAGENET_STD, pixel_range, False)
    if any(s <= 0 for s in std):
        raise ModelUnavailableError(f"{where}: std must be positive, not {list(std)}")
    low, high = min(pixel_range), max(pixel_range)
    if any(not low <= m <= high for m in mean):
        # A mean no pixel can reach is a card at odds with itself (walked: [0, 1] pixels with a
        # mean of 128 predicted nonsense without a word).
        raise ModelUnavailableError(f"{where}: mean {list(mean)} is outside pixel_range {list(pixel_range)}: give "
                                    "both in the same units ([0, 1] with means like 0.485, or [0, 255] with means "
                                    "like 123.7)")
    order = str(raw["channel_order"]).upper() if given("channel_order") else "RGB"
    if order not in ("RGB", "BGR"):
        raise ModelUnavailableError(f"{where}: channel_order must be 'RGB' or 'BGR', not {raw['channel_order']!r}")
    labels = read_labels(raw["labels"], base, where) if given("labels") else None
    model = raw.get("model")
    weights = raw.get("weights")
    for key, value in (("model", model), ("weights", weights), ("name", raw.get("name"))):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ModelUnavailableError(f"{where}: {key} must be a non-empty string, not {value!r}")
    return ModelCard(
        input_size=input_size, resize=resize, crop=crop, pixel_range=pixel_range, mean=mean, std=std,
        channel_order=order, resize_mode=mode, labels=labels,
        model=_relative(model, base) if model else None,
        weights=str(base / Path(weights).expanduser()) if weights else None,
        name=raw.get("name"), source=source, assumed=tuple(assumed),
    )


def read_labels(value: Any, base: Path, where: str) -> tuple[str, ...]:
    """Class names in output order from a file (text: one per line; JSON: a list or an
    id2label object) or an inline list."""
    if isinstance(value, list):
        return _label_list(value, where)
    if not isinstance(value, str) or not value.strip():
        raise ModelUnavailableError(f"{where}: labels must be a file name or a list of names, not {value!r}")
    path = base / Path(value).expanduser()
    if path.suffix.lower() == ".json":
        data = _read_json(path, "labels file", MAX_LABELS_BYTES)
        if isinstance(data, dict) and "id2label" in data:  # a Hugging Face config.json
            data = data["id2label"]
        return labels_from_json(data, str(path))
    text = _read_text(path, "labels file", MAX_LABELS_BYTES)
    return _label_list([line.strip() for line in text.splitlines() if line.strip()], f"labels file {path}")


def labels_from_json(data: Any, where: str) -> tuple[str, ...]:
    """A JSON list of names, or an id2label object {"0": "cat", ...} with ids 0..N-1."""
    if isinstance(data, list):
        return _label_list(data, where)
    if isinstance(data, dict):
        try:
            ids = {int(k): v for k, v in data.items()}
        except (TypeError, ValueError) as exc:
            raise ModelUnavailableError(f"{where}: id2label keys must be class indices, e.g. \"0\"") from exc
        if sorted(ids) != list(range(len(ids))):
            raise ModelUnavailableError(f"{where}: id2label must number the classes 0..{len(ids) - 1} without gaps")
        return _label_list([ids[i] for i in range(len(ids))], where)
    raise ModelUnavailableError(f"{where}: labels must be a JSON list or id2label object, not {type(data).__name__}")


def _label_list(values: list[Any], where: str) -> tuple[str, ...]:
    if not values:
        raise ModelUnavailableError(f"{where}: no labels")
    if len(values) > MAX_LABELS:
        raise ModelUnavailableError(f"{where}: {len(values)} labels (at most {MAX_LABELS})")
    bad = [v for v in values if not isinstance(v, str) or not v.strip()]
    if bad:
        raise ModelUnavailableError(f"{where}: every label must be a non-empty string (found {bad[0]!r})")
    return tuple(v.strip() for v in values)


def _read_text(path: Path, what: str, limit: int) -> str:
    try:
        size = path.stat().st_size
        if size > limit:
            raise ModelUnavailableError(f"{what} {path} is {size} bytes (at most {limit})")
        return path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError as exc:
        raise ModelUnavailableError(f"{what} not found: {path}") from exc
    except IsADirectoryError as exc:
        raise ModelUnavailableError(f"{what} {path} is a folder") from exc
    except UnicodeDecodeError as exc:
        raise ModelUnavailableError(f"{what} {path} is not UTF-8 text") from exc
    except OSError as exc:
        raise ModelUnavailableError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc


def _read_json(path: Path, what: str, limit: int = MAX_CARD_BYTES) -> Any:
    text = _read_text(path, what, limit)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelUnavailableError(f"{what} {path} is not valid JSON: {exc.msg} at line {exc.lineno}") from exc


def _relative(value: str, base: Path) -> str:
    """A spec with a scheme (torchvision:resnet50) stays; a file name is resolved to the card."""
    if ":" in value and not Path(value).drive and value.split(":", 1)[0] in ("torchvision", "timm"):
        return value
    return str(base / Path(value).expanduser())


def _number(value: Any, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ModelUnavailableError(f"{where}: {key} must be a finite number, not {value!r}")
    return float(value)


def _side(value: Any, key: str, where: str) -> int:
    number = _number(value, key, where)
    if number != int(number) or not 8 <= number <= MAX_INPUT_SIDE:
        raise ModelUnavailableError(f"{where}: {key} must be a whole number of pixels in 8..{MAX_INPUT_SIDE}, "
                                    f"not {value!r}")
    return int(number)


def _pair(value: Any, where: str) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        raise ModelUnavailableError(f"{where}: pixel_range must be [0, 1] or [0, 255], not {value!r}")
    low, high = (_number(v, "pixel_range", where) for v in value)
    if high <= low:
        raise ModelUnavailableError(f"{where}: pixel_range must go up, not {value!r}")
    return low, high


def _triple(value: Any, key: str, where: str) -> tuple[float, float, float]:
    if not isinstance(value, list) or len(value) != 3:
        raise ModelUnavailableError(f"{where}: {key} must be a list of 3 numbers (one per channel), not {value!r}")
    a, b, c = (_number(v, key, where) for v in value)
    return a, b, c


def _scaled(values: tuple[float, float, float], pixel_range: tuple[float, float],
            shift: bool) -> tuple[float, float, float]:
    """[0, 1]-scale statistics in the card's pixel units (a mean shifts with the range's low end)."""
    low, scale = pixel_range[0], pixel_range[1] - pixel_range[0]
    a, b, c = ((low if shift else 0.0) + v * scale for v in values)
    return a, b, c
