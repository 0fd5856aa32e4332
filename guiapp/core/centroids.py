"""Class centroids: the "typical feature vector" of each label.

Each class's sample images are encoded under several views (the standard crop, a flip,
random resized crops with mild colour jitter), and the vectors are clustered with
scikit-learn's KMeans into a few centres. The file records the model, the feature layer
and a fingerprint of the weights; loading it for other weights is refused, because
features of other weights live in another space and would steer the attack wrongly.

Files are .npz (arrays + a JSON header): no pickle, so loading one cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .errors import CentroidError, ImageLoadError, LabelError
from .imageio import IMAGE_SUFFIXES, load_image
from .models import Classifier
from .preprocess import image_to_tensor

FORMAT_VERSION = 2  # 2: several layers, float16 on disk; 1: one "head" layer, float32
SHIPPED_DIR = Path(__file__).resolve().parents[2] / "centroids"
_WNID = re.compile(r"^(n\d{8})")


@dataclass
class Centroids:
    """Per-class centres of pooled features, at one or more layers of one model's weights.

    Row i of every layer's array belongs to class `class_index[i]` (k rows per class).
    """

    layers: dict[str, np.ndarray]  # layer name -> (M, C) float32 centres
    class_index: np.ndarray  # (M,) int32, which class each row belongs to
    meta: dict

    @property
    def centres(self) -> np.ndarray:
        """The penultimate-vector ("head") centres, used by the white-box centroid term."""
        return self.layer("head")

    def layer(self, name: str) -> np.ndarray:
        if name not in self.layers:
            raise CentroidError(f"the centroid file has no layer {name!r}; it has {', '.join(self.layers)}")
        return self.layers[name]

    def for_class(self, index: int, layer: str = "head") -> torch.Tensor:
        rows = self.layer(layer)[self.class_index == index]
        if len(rows) == 0:
            raise CentroidError(f"the centroid file has no centre for class {index}")
        return torch.from_numpy(rows)

    def classes(self) -> set[int]:
        return set(int(i) for i in np.unique(self.class_index))

    def save(self, path: str | Path) -> Path:
        """Write atomically; centres as float16 (half the size, far below their spread)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {f"layer_{name}": a.astype(np.float16) for name, a in self.layers.items()}
        meta = {**self.meta, "format": FORMAT_VERSION, "layers": list(self.layers)}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                arrays.update(class_index=self.class_index, meta=np.array(json.dumps(meta)))
                # (numpy's stubs read ** as its allow_pickle keyword)
                np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; this file is meant to be shared
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path


def _as_shipped(a: np.ndarray) -> np.ndarray:
    """float32 values exactly as a float16 file stores them, so a built object and the
    file it saves are the same centres."""
    return a.astype(np.float16).astype(np.float32)


def load_centroids(path: str | Path, model: Classifier) -> Centroids:
    """Load a centroid file and check it was built for exactly this model's weights."""
    path = Path(path)
    try:
        # Our own handle: np.load leaves its file open when the archive is damaged.
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if not isinstance(meta, dict):
                raise ValueError(f"its meta is {type(meta).__name__}, not a JSON object")
            class_index = data["class_index"].astype(np.int32)
            if meta.get("format", 1) == 1:
                layers = {"head": data["centres"].astype(np.float32)}
            else:
                layers = {name: data[f"layer_{name}"].astype(np.float32) for name in meta["layers"]}
    except FileNotFoundError as exc:
        raise CentroidError(f"centroid file not found: {path}") from exc
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        # What a wrong or damaged file raises; anything else (a broken numpy, an interrupted
        # import) is not the file's fault and is not reported as if it were.
        raise CentroidError(f"{path} is not a guiapp centroid file ({exc})") from exc
    if meta.get("fingerprint") != model.fingerprint:
        raise CentroidError(
            f"{path} was built for {meta.get('model')} weights {meta.get('fingerprint')}, "
            f"not the loaded {model.name} weights {model.fingerprint}; rebuild it with 'guiapp-cli centroids build'"
        )
    for name, centres in layers.items():
        if centres.ndim != 2 or len(centres) != len(class_index):
            raise CentroidError(f"{path} is malformed: layer {name} {centres.shape}, classes {class_index.shape}")
    return Centroids(layers, class_index, meta)


def default_centroid_path(model_name: str) -> Path:
    """Where a model's centroids are looked for: the shipped folder for guiapp's models
    and torchvision:/timm: names, beside the model file for a user's file (NAME.centroids.npz)."""
    from .model_specs import SCHEMES, is_user_spec

    if is_user_spec(model_name):
        scheme = model_name.split(":", 1)[0]
        if scheme in SCHEMES:
            return SHIPPED_DIR / f"{model_name.replace(':', '-')}.npz"
        return Path(model_name).with_suffix(".centroids.npz")
    return SHIPPED_DIR / f"{model_name}.npz"


def shipped_centroids(model: Classifier) -> Centroids | None:
    """The shipped file for this model, or None if there is none (attack without the term)."""
    path = default_centroid_path(model.name)
    return load_centroids(path, model) if path.exists() else None



def content_hash(path: Path) -> str | None:
    """Short hash of a file's bytes; None when it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def file_key(path: Path) -> str:
    """Identify a centroid file's contents (batch resume keys); a missing file keys as such
    (the attack reports the real problem for each image)."""
    digest = content_hash(path)
    return f"file:{digest}" if digest else f"missing:{path}"


def data_key(centroids: Centroids) -> str:
    """Identify loaded centroid data (batch resume keys)."""
    digest = hashlib.sha256(np.ascontiguousarray(centroids.class_index).tobytes())
    for name in sorted(centroids.layers):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(centroids.layers[name]).tobytes())
    return "object:" + digest.hexdigest()[:16]


# --- building ------------------------------------------------------------------------------


def find_class_images(folder: str | Path, model: Classifier) -> dict[int, list[Path]]:
    """Images per class from an ImageFolder tree (sub-folder per class: wnid, name or index)
    or a flat folder of `<wnid>_anything.ext` files like imagenet-samples."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CentroidError(f"{folder} is not a folder")
    per_class: dict[int, list[Path]] = {}
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir())
    if subdirs:
        for sub in subdirs:
            index = model.labels.resolve(sub.name)
            per_class.setdefault(index, []).extend(
                sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            )
    else:
        wnid_to_index = {c.wnid: c.index for c in model.labels.classes if c.wnid}
        for p in sorted(folder.iterdir()):
            if p.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            m = _WNID.match(p.name)
            if m and m.group(1) in wnid_to_index:
                per_class.setdefault(wnid_to_index[m.group(1)], []).append(p)
                continue
            # <label>_anything.ext, the label in the model's own names (underscores in a name
            # cannot be told from the separator, so the first part is the label)
            if "_" not in p.name:
                continue
            try:
                per_class.setdefault(model.labels.resolve(p.name.split("_", 1)[0]), []).append(p)
            except LabelError:
                continue
    per_class = {k: v for k, v in per_class.items() if v}
    if not per_class:
        raise CentroidError(
            f"no labelled images in {folder}: expected class sub-folders or files named <label>_name.ext "
            "(<wnid>_name.ext for ImageNet)"
        )
    return per_class


AUGMENTATIONS = ("mild", "strong")


def _views(x: torch.Tensor, n_views: int, gen: torch.Generator, strength: str = "mild") -> list[torch.Tensor]:
    """n_views versions of a (1,3,H,W) image in [0,1]: as-is, flipped, then random crops.

    mild: crops of 50-100% of the area, +-10% colour. strong (for class statistics from
    few images): crops of 15-100% of the area, +-40% colour, sometimes grey or blurred,
    so a centre describes the class's parts and textures, not one photo's framing.
    """
    strong = strength == "strong"
    min_area, jitter = (0.15, 0.8) if strong else (0.5, 0.2)
    views = [x, x.flip(-1)]
    h, w = x.shape[-2:]

    def uniform(lo: float, hi: float) -> float:
        return float(torch.empty(1).uniform_(lo, hi, generator=gen))

    while len(views) < n_views:
        area = uniform(min_area, 1.0) * h * w
        ratio = math.exp(uniform(math.log(3 / 4), math.log(4 / 3)))
        ch = min(h, max(8, int(round(math.sqrt(area / ratio)))))
        cw = min(w, max(8, int(round(math.sqrt(area * ratio)))))
        top = int(torch.randint(0, h - ch + 1, (1,), generator=gen))
        left = int(torch.randint(0, w - cw + 1, (1,), generator=gen))
        v = x[..., top : top + ch, left : left + cw]
        if torch.rand(1, generator=gen) < 0.5:
            v = v.flip(-1)
        bright, contrast, sat = (1 + jitter * (torch.rand(3, generator=gen) - 0.5)).tolist()
        gray = v.mean(1, keepdim=True)
        if strong and torch.rand(1, generator=gen) < 0.1:
            sat = 0.0
        v = gray + (v - gray) * sat
        v = (v - v.mean()) * contrast + v.mean()
        if strong and torch.rand(1, generator=gen) < 0.2:
            v = F.avg_pool2d(v, 3, stride=1, padding=1, count_include_pad=False)
        views.append((v * bright).clamp(0, 1))
    return views[:n_views]


@dataclass(frozen=True)
class BuildProgress:
    done: int
    total: int
    label: str


class CentroidBuilder:
    """Encode and cluster; iterate `run()` for progress, then read `.centroids`."""

    def __init__(
        self,
        model: Classifier,
        images: str | Path,
        views: int = 8,
        k: int = 2,
        seed: int = 0,
        layers: tuple[str, ...] = ("head",),
        augment: str = "mild",
    ) -> None:
        if views < 1 or k < 1:
            raise ValueError("views and k must be at least 1")
        if augment not in AUGMENTATIONS:
            raise ValueError(f"augment must be one of {', '.join(AUGMENTATIONS)}")
        missing = [name for name in layers if name not in model.tap_layers]
        if not layers or missing:
            raise CentroidError(f"{model.name} cannot give layers {missing or '(none)'}; "
                                f"it has {', '.join(model.tap_layers)}")
        self.model, self.views, self.k, self.seed = model, views, k, seed
        self.layers, self.augment = tuple(layers), augment
        self.folder = Path(images)
        self.per_class = find_class_images(self.folder, model)
        self.skipped: list[str] = []
        self.centroids: Centroids | None = None
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def _encode(self, paths: list[Path], gen: torch.Generator) -> dict[str, np.ndarray]:
        """Pooled features of every view of every readable image, per layer."""
        per_layer: dict[str, list[np.ndarray]] = {name: [] for name in self.layers}
        for p in paths:
            try:
                img = load_image(p)
            except ImageLoadError as exc:
                self.skipped.append(str(exc))
                continue
            x = image_to_tensor(img.rgb)
            with torch.no_grad():
                batch = torch.cat([self.model.preprocess(v) for v in _views(x, self.views, gen, self.augment)])
                _, taps = self.model.features_with_taps(batch.to(self.model.device), self.layers)
            for name in self.layers:
                per_layer[name].append(taps[name].cpu().numpy())
        return {name: np.concatenate(v) for name, v in per_layer.items() if v}

    def run(self) -> Iterator[BuildProgress]:
        from sklearn.cluster import KMeans

        gen = torch.Generator().manual_seed(self.seed)
        centres: dict[str, list[np.ndarray]] = {name: [] for name in self.layers}
        owners = []
        total = len(self.per_class)
        for done, (index, paths) in enumerate(sorted(self.per_class.items()), 1):
            if self._cancel.is_set():
                return
            feats = self._encode(paths, gen)
            if feats:
                k = min(self.k, len(next(iter(feats.values()))))
                for name, vectors in feats.items():
                    km = KMeans(n_clusters=k, n_init=10, random_state=self.seed).fit(vectors)
                    centres[name].append(_as_shipped(km.cluster_centers_))
                owners.append(np.full(k, index, dtype=np.int32))
            yield BuildProgress(done, total, self.model.labels[index].name)
        if not owners:
            raise CentroidError(f"no readable images in {self.folder}")
        self.centroids = Centroids(
            {name: np.concatenate(c) for name, c in centres.items()},
            np.concatenate(owners),
            {
                "format": FORMAT_VERSION,
                "model": self.model.name,
                "feature_layer": self.model.feature_layer,
                "fingerprint": self.model.fingerprint,
                "layers": list(self.layers),
                "views": self.views,
                "augment": self.augment,
                "k": self.k,
                "seed": self.seed,
                "images": sum(len(v) for v in self.per_class.values()),
                "classes": len(owners),
                "built": time.strftime("%Y-%m-%d"),
            },
        )
