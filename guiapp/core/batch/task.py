"""The per-image task of a batch, and the fingerprint of the settings that made a result.

One `TaskRunner` lives wherever images are attacked: in the batch's own thread, in a worker
process, or in a Ray actor. It loads its model once and turns an `ImageTask` (input path,
output path, target) into a `BatchRow` through the attack pipeline (guiapp.core.pipeline).
Everything that crosses a process boundary here is a plain picklable value; the model is
loaded on the worker's side, never shipped.

A result may be reused by a later run only when it was made with the same settings: the
settings are hashed into a short key that is stored in the journal *and* in the PNG
itself (text chunk `guiapp:batch`), so a resumed run can check the file on disk.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..attacks import config_dict, strategy_of
from ..errors import GuiappError, OutputError
from ..fits import load_for_attack
from ..imageio import MAX_PIXELS
from ..labels import random_target
from ..models import Classifier, load_model
from ..pipeline import AttackRun, PreparedRun, crafting_labels, finish_run, plan_attack, prepare_run, run_together
from ..threads import DEFAULT_THREADS

# torch's CPU kernels split reductions by thread count, so the same attack gives different
# bytes with 1 and 2 threads (measured: 6 of 6 images differ). The count is fixed per attack
# (guiapp.core.threads: 1 unless asked otherwise) and is part of the settings key, so the
# output is independent of --workers; 1 thread per worker lets N workers use N cores.
# Disk-level failures of the output folder: every later image would fail the same way, so
# the batch stops (full, over quota, read-only, no permission or immutable).
FATAL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}
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
    ciede2000: float = float("nan")
    haarpsi: float = float("nan")
    flat_swirl: float = float("nan")  # guiapp.core.metrics.flat_area_swirl
    # Query mode: questions asked, and the victim's answer to each ("label, target p | ...").
    queries: int | None = None
    answers: str = ""
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
class TaskSettings:
    """What every worker of one batch shares (picklable)."""

    input_dir: str
    out_dir: str
    model: ModelSpec
    config: Any  # any mode's config
    centroids: Any  # "auto", a path, a Centroids object or None (as the pipeline takes it)
    threads: int | None = DEFAULT_THREADS  # torch threads per attack on CPU; None: leave as is
    max_pixels: int = MAX_PIXELS  # larger images get an error row before they are decoded


@dataclass(frozen=True)
class ImageTask:
    rel: str  # input, relative to the input folder (posix)
    output: str  # relative to the output folder (posix)
    target: int | None  # None: a seeded random target (needs the source prediction)
    random_seed: int | None
    key: str  # settings key, written into the PNG


@dataclass
class TaskResult:
    task: ImageTask
    row: BatchRow | None  # None: not done (cancelled or never started): the image stays pending
    fatal: str | None = None  # a disk-level error that must stop the whole batch
    worker: str = ""
    # The written PNG as it left the worker (sha256, bytes): the journal keeps them so that a
    # resumed run can tell the file is still that one, not truncated or swapped (issue 33 item 5).
    output_digest: OutputDigest | None = None


@dataclass(frozen=True)
class OutputDigest:
    sha256: str
    size: int

    @classmethod
    def of(cls, path: Path) -> OutputDigest:
        digest, size = hashlib.sha256(), 0
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
        return cls(digest.hexdigest(), size)


# -- settings fingerprint ---------------------------------------------------------------------


def _short_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def crafting_identity(model: Classifier, config: Any) -> tuple[str, str]:
    """(model names, weight fingerprints) of what an attack with `config` crafts on, joined
    with '+' as the PNG metadata writes them: `model`, or the transfer surrogates."""
    crafters = strategy_of(config).load_crafters(config, model, None, None)
    return "+".join(m.name for m in crafters), "+".join(m.fingerprint for m in crafters)


def run_settings(model: Classifier, config: Any, centroids: Any, threads: int = DEFAULT_THREADS) -> dict[str, Any]:
    """Everything besides the target that decides the bytes of an output PNG. The weights
    are those of the models that craft: `model`, or in transfer mode the surrogates (as
    the PNG's own metadata names them)."""
    name, weights = crafting_identity(model, config)
    return {
        "model": name,
        "weights": weights,
        "config": config_dict(config),
        "centroids": strategy_of(config).centroids_fingerprint(config, model.name, centroids),
        "threads": threads,
    }


def settings_key(settings: dict[str, Any]) -> str:
    return _short_hash(json.dumps(settings, sort_keys=True, default=str).encode())


def target_spec(target: int | None, random_seed: int | None) -> str:
    return f"class {target}" if target is not None else f"random seed {random_seed}"


def spec_target(spec: str) -> int | None:
    """The target a target_spec names (None: a random one, drawn when the image is attacked)."""
    return int(spec.split()[1]) if spec.startswith("class ") else None


def image_key(run_key: str, spec: str) -> str:
    return _short_hash(f"{run_key}|{spec}".encode())


def is_disk_level(exc: BaseException) -> bool:
    """True for errors of the output folder (full, over quota, read-only, permission
    denied); only ever asked about an OutputError, never about reading an input."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in FATAL_ERRNOS:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


# -- the task -----------------------------------------------------------------------------------


class TaskRunner:
    """Attacks images with one model (loaded once): one at a time, or several in one loop
    (`run_group`, for modes that batch their models' passes across images)."""

    def __init__(self, settings: TaskSettings, model: Classifier | None = None, device: str = "cpu") -> None:
        self.settings = settings
        self.model = model if model is not None else settings.model.load(device)
        self.input_dir, self.out_dir = Path(settings.input_dir), Path(settings.out_dir)
        self._current: list[AttackRun] = []
        self._cancelled = False

    def cancel(self) -> None:
        """Abandon the images in progress (nothing is written for them) and any later one."""
        self._cancelled = True
        for run in list(self._current):
            run.cancel()

    def _hook(self, run: AttackRun) -> None:
        self._current.append(run)
        if self._cancelled:
            run.cancel()

    def run(self, task: ImageTask, hook: Callable[[AttackRun], None] | None = None) -> TaskResult:
        try:
            started = self._prepare(task, hook)
            if isinstance(started, TaskResult):
                return started
            row, prepared = started
            try:
                for _ in prepared.run.steps():
                    pass
            except GuiappError as exc:
                return self._error(task, row, exc)
            except (MemoryError, torch.OutOfMemoryError):
                return self._error(task, row, "out of memory (the image is too large for this machine)")
            return self._complete(task, row, prepared)
        finally:
            self._current = []

    def run_group(self, tasks: list[ImageTask]) -> list[TaskResult]:
        """Attack several images in one loop (pipeline.run_together); the same PNGs as
        `run` one at a time. An image that fails before its first step gets its error row
        and leaves the group."""
        results: list[TaskResult | None] = [None] * len(tasks)
        started: list[tuple[int, BatchRow, PreparedRun]] = []
        try:
            for i, task in enumerate(tasks):
                outcome = self._prepare(task, None)
                if isinstance(outcome, TaskResult):
                    results[i] = outcome
                else:
                    started.append((i, *outcome))
            if started:
                error: GuiappError | str | None = None
                try:
                    for _ in run_together([p.run for _, _, p in started]):
                        pass
                except GuiappError as exc:
                    error = exc
                except (MemoryError, torch.OutOfMemoryError):
                    error = "out of memory (the images are too large for this machine together; try --group 1)"
                if error is not None:
                    for i, row, _ in started:
                        results[i] = self._error(tasks[i], row, error)
                    started = []
            for i, row, prepared in started:
                results[i] = self._complete(tasks[i], row, prepared)
        finally:
            self._current = []
        return [r for r in results if r is not None]

    def _prepare(self, task: ImageTask, hook: Callable[[AttackRun], None] | None
                 ) -> tuple[BatchRow, PreparedRun] | TaskResult:
        """Load, plan and check the output; an error row when any of it fails."""
        row = BatchRow(task.rel, output=task.output)
        src = self.input_dir / task.rel
        settings = self.settings
        num_classes = len(crafting_labels(settings.config, self.model, str(self.model.device)))

        def choose(source) -> int:  # a seeded random target needs the clean image's class
            return task.target if task.target is not None else random_target(
                task.rel, task.random_seed or 0, source.index, num_classes)

        try:
            # The memory check reads the header: an image too large for memory is an error row
            # before it is decoded.
            image = load_for_attack(src, settings.config, self.model, max_pixels=settings.max_pixels)
            plan = plan_attack(image, choose, config=settings.config, model=self.model,
                               device=str(self.model.device), centroids=settings.centroids,
                               max_pixels=settings.max_pixels, memory_checked=True)
            # The runner probed the folder once and stops at a full disk: no probe per image.
            return row, prepare_run(plan, self.out_dir / task.output, attack_hook=hook or self._hook,
                                    probe_output=False)
        except GuiappError as exc:
            return self._error(task, row, exc)
        except (MemoryError, torch.OutOfMemoryError):
            return self._error(task, row, "out of memory (the image is too large for this machine)")

    def _complete(self, task: ImageTask, row: BatchRow, prepared: PreparedRun) -> TaskResult:
        """Save, verify and fill the row of a finished run (no row when it was cancelled)."""
        try:
            report = finish_run(prepared, metadata={PNG_KEY: task.key})
        except GuiappError as exc:
            return self._error(task, row, exc)
        if report.cancelled:
            return TaskResult(task, None)
        for name in ("source", "source_name", "target", "target_name", "success", "final", "final_name",
                     "target_conf", "linf", "psnr", "ssim", "ciede2000", "haarpsi", "flat_swirl", "steps", "seconds"):
            setattr(row, name, getattr(report, name))
        row.queries = report.queries
        row.answers = answers_text(report.answers)
        row.status = "ok" if report.success else "failed"
        if not report.success:
            plan = prepared.plan
            row.error = plan.strategy.failure_text(plan.config, report.steps, report.final_name)
        try:
            digest: OutputDigest | None = OutputDigest.of(self.out_dir / task.output)
        except OSError:
            digest = None  # gone already (a user's clean-up): resume then decodes whatever is there
        return TaskResult(task, row, output_digest=digest)

    @staticmethod
    def _error(task: ImageTask, row: BatchRow, error: GuiappError | str) -> TaskResult:
        row.status, row.error, row.output = "error", str(error), ""
        fatal = str(error) if isinstance(error, OutputError) and is_disk_level(error) else None
        return TaskResult(task, row, fatal)


def answers_text(answers: list[dict]) -> str:
    """A query-mode run's answers in one cell, each the victim's top class with its score and
    the target's when it gave them: "espresso 0.91, target 0.02 | goldfish 0.63 (agrees)"."""
    parts = []
    for a in answers:
        top, score = a.get("top1_score"), a.get("target_score")
        said = f"{a.get('top1_name', '?')}" + (f" {top:.3g}" if isinstance(top, float) and math.isfinite(top) else "")
        if score is not None and not a.get("agrees"):
            said += f", target {score:.3g}"
        parts.append(said + (" (agrees)" if a.get("agrees") else ""))
    return " | ".join(parts)


def set_torch_threads(threads: int | None) -> int:
    """Set torch's CPU thread count (when given); returns the previous count."""
    previous = torch.get_num_threads()
    if threads is not None and threads != previous:
        torch.set_num_threads(threads)
    return previous
