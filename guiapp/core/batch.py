"""Folder processing: attack every image of a tree, mirror it as PNGs, keep a report.

The report (report.csv + report.json in the output folder) is rewritten atomically after
every image, so an interruption loses at most the image in progress. Re-running the same
job skips inputs whose PNG exists and whose report row says success (`force` redoes
them). One bad file never stops the batch: it gets a row with its error.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from .api import attack_file, predict_image
from .attack import AttackConfig, TargetedAttack
from .centroids import Centroids
from .errors import GuiappError, OutputError
from .imageio import IMAGE_SUFFIXES, load_image
from .labels import LabelSet
from .models import Classifier

REPORT_JSON = "report.json"
REPORT_CSV = "report.csv"


@dataclass
class BatchRow:
    input: str  # relative to the input folder
    output: str = ""
    status: str = ""  # ok | failed | error | skipped | cancelled
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
class TargetSpec:
    """Exactly one of: one label for all, a per-file mapping, or seeded random targets."""

    label: str | None = None
    mapping: dict[str, str] | None = None  # relative path -> label
    random_seed: int | None = None

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.label, self.mapping, self.random_seed)) != 1:
            raise GuiappError("give exactly one of: a target label, a targets CSV, or random targets")


def read_targets_csv(path: str | Path, input_dir: Path) -> dict[str, str]:
    """`path,label` rows (header optional); paths relative to the input folder or absolute."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise GuiappError(f"cannot read targets file {path}: {exc.strerror}") from exc
    mapping: dict[str, str] = {}
    for n, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 2:
            raise GuiappError(f"{path}:{n}: expected 'image path,label', got {','.join(row)!r}")
        name, label = row[0].strip(), row[1].strip()
        if n == 1 and name.lower() in ("path", "image", "file", "filename") and label.lower() in ("label", "target"):
            continue
        p = Path(name)
        if p.is_absolute():
            try:
                p = p.resolve().relative_to(input_dir.resolve())
            except ValueError as exc:
                raise GuiappError(f"{path}:{n}: {name} is not inside {input_dir}") from exc
        mapping[p.as_posix()] = label
    if not mapping:
        raise GuiappError(f"targets file {path} has no rows")
    return mapping


def random_target(rel: str, seed: int, source: int, num_classes: int) -> int:
    """Deterministic per file (so a resumed run picks the same), never the source class."""
    rng = np.random.default_rng([seed, zlib.crc32(rel.encode())])
    t = int(rng.integers(0, num_classes - 1))
    return t + 1 if t >= source else t


@dataclass
class BatchProgress:
    done: int  # rows finished (incl. skipped)
    total: int
    row: BatchRow
    elapsed: float
    eta: float  # seconds, from the mean time of attacked images


@dataclass
class BatchSummary:
    total: int
    succeeded: int
    failed: int  # attacked but the target was not reached
    errors: int  # could not be processed (bad file...)
    skipped: int  # non-images (and, with a targets CSV, files it does not list)
    cancelled: bool
    seconds: float  # wall-clock time of the run, loading and saving included
    images_per_second: float  # images attacked in this run / seconds
    resumed: int = 0  # of `succeeded`, those done in an earlier run and kept

    def line(self) -> str:
        return (
            f"done {self.succeeded + self.failed + self.errors}/{self.total}: {self.succeeded} succeeded"
            f"{f' ({self.resumed} in an earlier run)' if self.resumed else ''}, "
            f"{self.failed} failed, {self.errors} errors, {self.skipped} skipped"
            f"{' (cancelled)' if self.cancelled else ''}; {self.images_per_second:.2f} images/s"
        )


class BatchRunner:
    def __init__(
        self,
        input_dir: str | Path,
        out_dir: str | Path,
        model: Classifier,
        targets: TargetSpec,
        config: AttackConfig | None = None,
        centroids: Centroids | str | None = "auto",
        recursive: bool = False,
        force: bool = False,
        allow_output_in_input: bool = False,
    ) -> None:
        self.input_dir = Path(input_dir)
        self.out_dir = Path(out_dir)
        if not self.input_dir.is_dir():
            raise GuiappError(f"input folder {self.input_dir} does not exist or is not a folder")
        inp, out = self.input_dir.resolve(), self.out_dir.resolve()
        if not allow_output_in_input and (out == inp or inp in out.parents):
            raise OutputError(
                f"output folder {self.out_dir} is inside the input folder; choose another "
                "(or allow it explicitly with --allow-output-in-input)"
            )
        self.model, self.targets, self.config = model, targets, config or AttackConfig()
        self.centroids, self.recursive, self.force = centroids, recursive, force
        self._stop_after_current = threading.Event()
        self._current: TargetedAttack | None = None
        self._cancel_now = threading.Event()
        self.rows: dict[str, BatchRow] = {}
        self._wall = 0.0  # seconds of the current/last run
        self._attacked = 0  # images attacked (not skipped) in the current/last run
        self._resumed = 0  # images kept from an earlier run (their output and ok row exist)
        self._cancelled = False
        self._fixed_target = model.labels.resolve(targets.label) if targets.label is not None else None
        self._mapping = self._resolve_mapping(model.labels) if targets.mapping is not None else None

    def _resolve_mapping(self, labels: LabelSet) -> dict[str, int]:
        resolved, problems = {}, []
        for rel, label in self.targets.mapping.items():
            try:
                resolved[rel] = labels.resolve(label)
            except GuiappError as exc:
                problems.append(f"{rel}: {exc}")
        if problems:
            raise GuiappError("targets file has bad labels: " + "; ".join(problems[:5]))
        return resolved

    # -- control, callable from any thread ----------------------------------------------
    def stop_after_current(self) -> None:
        self._stop_after_current.set()

    def cancel(self) -> None:
        """Stop now: the image in progress is abandoned (nothing written for it)."""
        self._stop_after_current.set()
        self._cancel_now.set()
        if self._current is not None:
            self._current.cancel()

    # -- planning ------------------------------------------------------------------------
    def plan(self) -> tuple[list[Path], list[Path]]:
        """(candidate image files, non-image files), relative to the input folder, sorted."""
        walker = self.input_dir.rglob("*") if self.recursive else self.input_dir.iterdir()
        images, others = [], []
        out = self.out_dir.resolve()
        for p in sorted(walker):
            if not p.is_file() or p.name.startswith("."):
                continue
            if out in p.resolve().parents:
                continue  # our own outputs, when they are allowed inside the input tree
            (images if p.suffix.lower() in IMAGE_SUFFIXES else others).append(p.relative_to(self.input_dir))
        return images, others

    def output_for(self, rel: Path, taken: set[Path]) -> Path:
        out = self.out_dir / rel.with_suffix(".png")
        if out in taken:  # a.jpg and a.png in one folder: keep both, as a.jpg.png
            out = self.out_dir / rel.parent / (rel.name + ".png")
        taken.add(out)
        return out

    def _load_previous(self) -> dict[str, dict]:
        path = self.out_dir / REPORT_JSON
        if not path.exists():
            return {}
        try:
            return {r["input"]: r for r in json.loads(path.read_text())["rows"]}
        except (ValueError, KeyError, TypeError):
            return {}  # unreadable report: redo everything rather than trust it

    # -- running -------------------------------------------------------------------------
    def run(self) -> Iterator[BatchProgress]:
        start = time.perf_counter()
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create output folder {self.out_dir}: {exc.strerror}") from exc
        if not os.access(self.out_dir, os.W_OK):
            raise OutputError(f"output folder {self.out_dir} is not writable")
        images, others = self.plan()
        previous = self._load_previous()
        total = len(images) + len(others)
        done, attacked_time, attacked = 0, 0.0, 0
        for rel in others:
            row = BatchRow(rel.as_posix(), status="skipped", error="not an image file (by extension)")
            self.rows[row.input] = row
            done += 1
            yield BatchProgress(done, total, row, time.perf_counter() - start, float("nan"))
        taken: set[Path] = set()
        self._cancelled, self._attacked, self._resumed = False, 0, 0
        for rel in images:
            key = rel.as_posix()
            out = self.output_for(rel, taken)
            if self._stop_after_current.is_set():
                self._cancelled = True
                break
            old = previous.get(key)
            if not self.force and old and old.get("status") == "ok" and out.exists():
                row = BatchRow(**{f.name: old[f.name] for f in fields(BatchRow) if f.name in old})
                row.status, row.error = "ok", ""
                self.rows[key] = row
                row_for_progress = BatchRow(key, output=row.output, status="skipped", error="done in an earlier run")
                self._resumed += 1
            else:
                t0 = time.perf_counter()
                row = self._process(rel, out)
                if row.status == "cancelled":
                    self._cancelled = True
                    self._write_reports(start)
                    break
                self.rows[key] = row
                row_for_progress = row
                attacked_time += time.perf_counter() - t0
                attacked += 1
                self._attacked = attacked
            done += 1
            self._write_reports(start)
            eta = attacked_time / attacked * (total - done) if attacked else float("nan")
            yield BatchProgress(done, total, row_for_progress, time.perf_counter() - start, eta)
        self._write_reports(start)

    def _process(self, rel: Path, out: Path) -> BatchRow:
        key = rel.as_posix()
        row = BatchRow(key, output=str(out.relative_to(self.out_dir)))
        src = self.input_dir / rel
        try:
            if self._mapping is not None:
                if key not in self._mapping:
                    row.status, row.error = "skipped", "no target for this file in the targets CSV"
                    return row
                target = self._mapping[key]
            elif self._fixed_target is not None:
                target = self._fixed_target
            else:
                source = predict_image(self.model, load_image(src), 1)[0].index
                target = random_target(key, self.targets.random_seed, source, self.model.num_classes)
            report = attack_file(
                src,
                target,
                out,
                model=self.model,
                config=self.config,
                centroids=self.centroids,
                attack_hook=self._set_current,
            )
        except GuiappError as exc:
            row.status, row.error, row.output = "error", str(exc), ""
            return row
        finally:
            self._current = None
        if report.cancelled:
            row.status = "cancelled"
            return row
        for name in ("source", "source_name", "target", "target_name", "success", "final", "final_name",
                     "target_conf", "linf", "psnr", "ssim", "steps", "seconds"):
            setattr(row, name, getattr(report, name))
        row.status = "ok" if report.success else "failed"
        if not report.success:
            row.error = f"target not reached in {report.steps} steps (saved image is {report.final_name})"
        return row

    def _set_current(self, attack: TargetedAttack) -> None:
        self._current = attack
        if self._cancel_now.is_set():
            attack.cancel()

    def summary(self) -> BatchSummary:
        rows = list(self.rows.values())
        wall, attacked = self._wall, self._attacked
        return BatchSummary(
            total=len(rows),
            succeeded=sum(r.status == "ok" for r in rows),
            failed=sum(r.status == "failed" for r in rows),
            errors=sum(r.status == "error" for r in rows),
            skipped=sum(r.status == "skipped" for r in rows),
            cancelled=self._cancelled,
            seconds=wall,
            images_per_second=attacked / wall if attacked and wall > 0 else 0.0,
            resumed=self._resumed,
        )

    def _write_reports(self, start: float) -> None:
        self._wall = time.perf_counter() - start
        rows = [asdict(r) for r in sorted(self.rows.values(), key=lambda r: r.input)]
        payload = {
            "input_dir": str(self.input_dir),
            "model": self.model.name,
            "config": asdict(self.config),
            "summary": asdict(self.summary()),
            "rows": rows,
        }
        _atomic_write(self.out_dir / REPORT_JSON, json.dumps(payload, indent=1, default=str))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=[f.name for f in fields(BatchRow)])
        writer.writeheader()
        writer.writerows(rows)
        _atomic_write(self.out_dir / REPORT_CSV, buf.getvalue())


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror}") from exc
