"""Which class each image of a batch should be seen as: one label, a CSV, or seeded random."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from ..errors import GuiappError


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
