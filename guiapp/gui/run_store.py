"""The History on disk: the finished runs of every image, kept across restarts (issue 34
item 1: results were lost when another image opened, and on quitting).

Under the History folder (the `history/folder` setting, else the app's data folder), one
folder per image (named by a hash of its path) holds, per run, the PNG the pipeline wrote
when the run finished (the file Save writes, byte for byte), its exact 8-bit pixels
(`.npz`), and one index (`runs.pkl`) with every run's settings, figures, plot, verdicts
and where it was saved. A run read back is a `StoredRun`: the few parts of the pipeline's
AttackRun the window reads (no models; its strategy comes from its settings). Runs of a
file that has changed since (another picture under the same name) are not read back.

The index is a pickle of plain values and the core's dataclasses, written only by this
app in the user's own folder; one that cannot be read (another version) is skipped.
Everything here but `folder` is Qt-free and runs in worker threads.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import shutil
import tempfile
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
FOLDER_KEY = "history/folder"
INDEX = "runs.pkl"
VERSION = 1


def folder(settings: Any) -> Path:
    configured = settings.value(FOLDER_KEY)
    if configured:
        return Path(str(configured))
    from PySide6.QtCore import QStandardPaths

    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base) / "history" if base else Path.home() / ".guiapp-history"


def image_folder(root: Path, image_path: Path) -> Path:
    return root / hashlib.sha1(str(image_path).encode()).hexdigest()[:16]


def digest(rgb: np.ndarray) -> str:
    """Which picture a run was made on (its path may hold another one later)."""
    return hashlib.sha1(repr(rgb.shape).encode() + np.ascontiguousarray(rgb).tobytes()).hexdigest()


class Names:
    """The label names of a crafting model the window reads, by class index."""

    def __init__(self, names: dict[int, str]) -> None:
        self.names = names

    def __getitem__(self, index: int) -> Any:
        return SimpleNamespace(name=self.names.get(index, f"class {index}"))


@dataclass
class StoredModel:
    name: str
    labels: Names


@dataclass
class StoredPlan:
    """What the window reads of a run's AttackPlan, without its models."""

    image: Any  # the LoadedImage opened now (the same picture: its digest matched)
    source_name: str
    config: Any
    crafters: list[StoredModel]
    source: Any  # Prediction
    target: int
    target_name: str
    notes: list[str] = field(default_factory=list)
    uses_centroids: bool = False

    @property
    def strategy(self) -> Any:
        from ..core.attacks import strategy_of

        return strategy_of(self.config)

    @property
    def crafted_on(self) -> str:
        return "+".join(m.name for m in self.crafters)


@dataclass
class StoredRun:
    plan: StoredPlan
    result: Any  # AttackResult
    seconds: float
    png: Path  # the PNG the pipeline wrote when the run finished


# What each entry keeps on disk: RunEntry's own fields (history.py) but `run`.
ENTRY_FIELDS = ("number", "plot", "judges_ticked", "settings", "made", "preds", "table_model", "dist",
                "verdicts", "judges_note", "saved", "dismissed", "report")


def run_files(directory: Path, made: float) -> tuple[Path, Path]:
    """A run's PNG and pixels, named by when it was made (its number may change: runs made
    while the stored ones were still being read are numbered after them)."""
    stem = f"run-{int(made * 1000)}"
    return directory / f"{stem}.png", directory / f"{stem}.npz"


def write_run(directory: Path, entry: Any) -> Path:
    """The run's PNG (as Save writes it) and its pixels, beside the index. Slow: a worker's."""
    from ..core.saved_result import save_result

    run = entry.run
    directory.mkdir(parents=True, exist_ok=True)
    png, pixels = run_files(directory, entry.made)
    save_result(run.plan, run.result, png)  # as save_flow.save calls it: the same bytes
    np.savez_compressed(pixels, adversarial=run.result.adversarial)
    return png


def _record(entry: Any, image_digest: str) -> dict[str, Any]:
    run = entry.run
    plan, result = run.plan, run.result
    first = plan.crafters[0]
    names = {i: first.labels[i].name for i in {result.top1, result.target}}
    return {
        **{name: getattr(entry, name) for name in ENTRY_FIELDS},
        "result": replace(result, adversarial=None),
        "seconds": run.seconds,
        "plan": {"source_name": plan.source_name, "config": plan.config, "source": plan.source,
                 "target": plan.target, "target_name": plan.target_name, "notes": list(plan.notes),
                 "uses_centroids": plan.uses_centroids,
                 "crafters": [(m.name, names if m is first else {}) for m in plan.crafters]},
        "digest": image_digest,
    }


def write_index(directory: Path, image_path: str, image_digest: str, entries: list[Any]) -> None:
    """Every run of one image whose PNG is written, atomically; the files of runs no
    longer listed are removed. Quick (no pixels): the GUI thread's."""
    stored = [e for e in entries if run_files(directory, e.made)[0].exists()]
    if not stored and not directory.exists():
        return
    directory.mkdir(parents=True, exist_ok=True)
    data = {"version": VERSION, "image": image_path, "runs": [_record(e, image_digest) for e in stored]}
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    with os.fdopen(fd, "wb") as out:
        pickle.dump(data, out)
    os.replace(tmp, directory / INDEX)
    kept = {p.name for e in stored for p in run_files(directory, e.made)}
    for path in directory.glob("run-*"):  # (not runs.pkl)
        if path.name not in kept:
            path.unlink(missing_ok=True)


def read_runs(directory: Path, image: Any) -> tuple[str, list[dict[str, Any]]]:
    """The picture's digest and its stored runs (`image`: a LoadedImage): for each,
    RunEntry's fields and its StoredRun as "run". No runs if none were kept, if the index
    is unreadable, or if the picture changed since. Slow (pixels): a worker's."""
    here = digest(image.rgb)
    try:
        with open(directory / INDEX, "rb") as f:
            data = pickle.load(f)  # noqa: S301 - this app's own file in the user's folder (see above)
    except Exception:  # noqa: BLE001 - none yet, or another version's index: start afresh
        return here, []
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return here, []
    out = []
    for record in data["runs"]:
        try:
            run = _stored_run(directory, record, image, here)
        except Exception:  # noqa: BLE001 - one unreadable run (a damaged file) costs that run only
            log.warning("a run kept in %s could not be read back", directory, exc_info=True)
            continue
        if run is not None:
            # A field this version added is missing from an older index: RunEntry's default.
            out.append({**{name: _completed(record[name]) for name in ENTRY_FIELDS if name in record}, "run": run})
    return here, out


def _stored_run(directory: Path, record: dict[str, Any], image: Any, here: str) -> StoredRun | None:
    png, pixels = run_files(directory, record["made"])
    if record["digest"] != here or not png.exists() or not pixels.exists():
        return None
    with np.load(pixels) as arrays:
        adversarial = arrays["adversarial"]
    p = record["plan"]
    plan = StoredPlan(image=image, source_name=p["source_name"], config=_completed(p["config"]),
                      crafters=[StoredModel(name, Names(names)) for name, names in p["crafters"]],
                      source=p["source"], target=p["target"], target_name=p["target_name"], notes=p["notes"],
                      uses_centroids=p["uses_centroids"])
    result = replace(_completed(record["result"]), adversarial=adversarial)
    return StoredRun(plan, result, record["seconds"], png)


def _completed(value: Any) -> Any:
    """`value` with the fields its dataclasses gained since it was pickled set to their
    defaults (unpickling restores the old fields only), in lists and tuples too."""
    if isinstance(value, (list, tuple)):
        for item in value:
            _completed(item)
        return value
    if is_dataclass(value) and not isinstance(value, type) and hasattr(value, "__dict__"):
        for f in fields(value):
            if f.name not in vars(value):
                default = f.default_factory() if f.default_factory is not MISSING else f.default
                if default is not MISSING:
                    object.__setattr__(value, f.name, default)  # frozen ones too
            else:
                _completed(vars(value)[f.name])
    return value


def copy_png(run: StoredRun, path: Path) -> Path:
    """Save a stored run: its PNG, byte for byte, written atomically. A worker's."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".png.tmp")
    os.close(fd)
    try:
        shutil.copyfile(run.png, tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path
