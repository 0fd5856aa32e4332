"""The per-image job of a batch, and the fingerprint of the settings that made a result.

One `JobRunner` lives wherever images are attacked: in the batch's own thread, in a worker
process, or in a Ray actor. It loads its model once and turns an `ImageJob` (input path,
output path, target) into a `BatchRow`. Everything that crosses a process boundary here is
a plain picklable value; the model is loaded on the worker's side, never shipped.

A result may be reused by a later run only when it was made with the same settings: the
settings are hashed into a short key that is stored in the journal *and* in the PNG
itself (text chunk `guiapp:batch`), so a resumed run can check the file on disk.
"""

from __future__ import annotations

import errno
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .api import attack_file, crafting_identity, predict_image
from .centroids import Centroids, default_centroid_path
from .errors import GuiappError, OutputError
from .imageio import MAX_PIXELS, load_image
from .models import Classifier, load_model
from .modes import AnyConfig, config_dict
from .transfer import TransferConfig, centroid_folder, surrogate_centroid_path

# torch's CPU kernels split reductions by thread count, so the same attack gives different
# bytes with 1 and 2 threads (measured: 6 of 6 images differ). Fixing the count per attack
# makes the output independent of --workers; 1 thread per worker lets N workers use N cores.
BATCH_THREADS = 1
# Disk-level failures: every later image would fail the same way, so the batch stops.
FATAL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}
PNG_KEY = "batch"  # PNG text chunk guiapp:batch = the settings key of the image


@dataclass
class BatchRow:
    input: str  # relative to the input folder
    output: str = ""  # relative to the output folder
    status: str = ""  # ok | failed | error | skipped | pending
    source: int = -1
    source_name: str = ""
    target: int = -1
    target_name: str = ""
    success: bool = False
    final: int = -1
    final_name: str = ""
    target_conf: float = float("nan")
    linf: float = float("nan")
    psnr: float = float("nan")
    ssim: float = float("nan")
    steps: int = 0
    seconds: float = 0.0
    error: str = ""


@dataclass(frozen=True)
class ModelSpec:
    """How a worker loads the same classifier the batch was started with."""

    name: str
    fingerprint: str
    weights: str | None  # a state-dict file, when the model came from one

    @classmethod
    def of(cls, model: Classifier) -> "ModelSpec":
        source = model.weights_source
        return cls(model.name, model.fingerprint, source if source and Path(source).is_file() else None)

    def load(self, device: str) -> Classifier:
        # The file may sit elsewhere on another machine (a Ray node with its own install):
        # then the model's default source is used, and the fingerprint decides.
        weights = self.weights if self.weights and Path(self.weights).is_file() else None
        model = load_model(self.name, device, weights)
        if model.fingerprint != self.fingerprint:
            raise GuiappError(
                f"a worker loaded other {self.name} weights ({model.fingerprint}) than the batch was started "
                f"with ({self.fingerprint}); install the same weights on every machine"
            )
        return model


@dataclass(frozen=True)
class JobSettings:
    """What every worker of one batch shares (picklable)."""

    input_dir: str
    out_dir: str
    model: ModelSpec
    config: AnyConfig
    centroids: Any  # "auto", a path, a Centroids object or None (as attack_file takes it)
    threads: int | None = BATCH_THREADS  # torch threads per attack on CPU; None: leave as is
    max_pixels: int = MAX_PIXELS  # larger images get an error row before they are decoded


@dataclass(frozen=True)
class ImageJob:
    rel: str  # input, relative to the input folder (posix)
    output: str  # relative to the output folder (posix)
    target: int | None  # None: a seeded random target (needs the source prediction)
    random_seed: int | None
    key: str  # settings key, written into the PNG


@dataclass
class JobResult:
    job: ImageJob
    row: BatchRow | None  # None: not done (cancelled or never started): the image stays pending
    fatal: str | None = None  # a disk-level error that must stop the whole batch
    worker: str = ""


# -- settings fingerprint ---------------------------------------------------------------------


def _short_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def centroids_fingerprint(model: Classifier, centroids: Any, config: AnyConfig) -> str | None:
    """Identify the centroid data an attack would use (None when it uses none)."""
    if isinstance(config, TransferConfig):
        if not config.uses_centroids or centroids is None:
            return None  # None ("none") turns the term off: attack_file drops it
        # Transfer mode reads one file per surrogate: shipped ("auto") or from a folder (a
        # file instead is refused here, before any image, with what transfer mode expects).
        folder = centroid_folder(centroids)
        parts = []
        for name in config.surrogates:
            try:
                parts.append(_short_hash(surrogate_centroid_path(name, folder).read_bytes()))
            except OSError:
                parts.append(f"missing:{name}")
        return "files:" + "+".join(parts)
    if getattr(config, "centroid_weight", 0) <= 0 or centroids is None:
        return None
    if isinstance(centroids, Centroids):
        digest = hashlib.sha256(np.ascontiguousarray(centroids.class_index).tobytes())
        for name in sorted(getattr(centroids, "layers", {})):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(centroids.layers[name]).tobytes())
        return "object:" + digest.hexdigest()[:16]
    path = default_centroid_path(model.name) if centroids == "auto" else Path(centroids)
    try:
        return "file:" + _short_hash(path.read_bytes())
    except OSError:
        return f"missing:{path}"  # attack_file reports the real problem for each image


def run_settings(model: Classifier, config: AnyConfig, centroids: Any) -> dict[str, Any]:
    """Everything besides the target that decides the bytes of an output PNG. The weights
    are those of the models that craft: `model`, or in transfer mode the surrogates (as
    the PNG's own metadata names them)."""
    name, weights = crafting_identity(model, config)
    return {
        "model": name,
        "weights": weights,
        "config": config_dict(config),
        "centroids": centroids_fingerprint(model, centroids, config),
        "threads": BATCH_THREADS,
    }


def settings_key(settings: dict[str, Any]) -> str:
    return _short_hash(json.dumps(settings, sort_keys=True, default=str).encode())


def target_spec(target: int | None, random_seed: int | None) -> str:
    return f"class {target}" if target is not None else f"random seed {random_seed}"


def image_key(run_key: str, spec: str) -> str:
    return _short_hash(f"{run_key}|{spec}".encode())


def random_target(rel: str, seed: int, source: int, num_classes: int) -> int:
    """Deterministic per file (so a resumed run picks the same), never the source class."""
    import zlib

    rng = np.random.default_rng([seed, zlib.crc32(rel.encode())])
    t = int(rng.integers(0, num_classes - 1))
    return t + 1 if t >= source else t


def is_disk_level(exc: BaseException) -> bool:
    """True for errors caused by the output device (full, over quota, read-only)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in FATAL_ERRNOS:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


# -- the job ------------------------------------------------------------------------------------


class JobRunner:
    """Attacks images one at a time with one model (loaded once)."""

    def __init__(self, settings: JobSettings, model: Classifier | None = None, device: str = "cpu") -> None:
        self.settings = settings
        self.model = model if model is not None else settings.model.load(device)
        self.input_dir, self.out_dir = Path(settings.input_dir), Path(settings.out_dir)
        self._current = None
        self._cancelled = False

    def cancel(self) -> None:
        """Abandon the image in progress (nothing is written for it) and any later one."""
        self._cancelled = True
        if self._current is not None:
            self._current.cancel()

    def _hook(self, attack) -> None:
        self._current = attack
        if self._cancelled:
            attack.cancel()

    def run(self, job: ImageJob, hook: Callable[[Any], None] | None = None) -> JobResult:
        row = BatchRow(job.rel, output=job.output)
        src = self.input_dir / job.rel
        try:
            if job.target is not None:
                target = job.target
            else:
                source = predict_image(self.model, load_image(src, self.settings.max_pixels), 1)[0].index
                target = random_target(job.rel, job.random_seed or 0, source, self.model.num_classes)
            report = attack_file(
                src,
                target,
                self.out_dir / job.output,
                model=self.model,
                device=str(self.model.device),  # transfer mode loads its surrogates there
                config=self.settings.config,
                centroids=self.settings.centroids,
                max_pixels=self.settings.max_pixels,
                attack_hook=hook or self._hook,
                metadata={PNG_KEY: job.key},
                probe_output=False,  # the runner probed the folder once and stops at a full disk
            )
        except GuiappError as exc:
            row.status, row.error, row.output = "error", str(exc), ""
            fatal = str(exc) if isinstance(exc, OutputError) and is_disk_level(exc) else None
            return JobResult(job, row, fatal)
        except (MemoryError, torch.OutOfMemoryError):
            row.status, row.error, row.output = "error", "out of memory (the image is too large for this machine)", ""
            return JobResult(job, row)
        finally:
            self._current = None
        if report.cancelled:
            return JobResult(job, None)
        for name in ("source", "source_name", "target", "target_name", "success", "final", "final_name",
                     "target_conf", "linf", "psnr", "ssim", "steps", "seconds"):
            setattr(row, name, getattr(report, name))
        row.status = "ok" if report.success else "failed"
        if not report.success and self.settings.config.mode == "transfer":
            row.error = f"not every surrogate sees the target in the saved image after {report.steps} iterations"
        elif not report.success:
            row.error = f"target not reached in {report.steps} steps (saved image is {report.final_name})"
        return JobResult(job, row)


def set_torch_threads(threads: int | None) -> int:
    """Set torch's CPU thread count (when given); returns the previous count."""
    previous = torch.get_num_threads()
    if threads is not None and threads != previous:
        torch.set_num_threads(threads)
    return previous
