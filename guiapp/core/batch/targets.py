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
        raw = path.read_bytes()
    except OSError as exc:
        raise GuiappError(f"cannot read targets file {path}: {exc.strerror}") from exc
    # UTF-8 (with or without Excel's BOM), or UTF-16 with its BOM (Excel's "Unicode text").
    encoding = "utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise GuiappError(f"targets file {path} is not UTF-8 text (byte {exc.start}); "
                          "save it as 'CSV UTF-8'") from exc
    mapping: dict[str, str] = {}
    line_of: dict[str, int] = {}
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
        key = p.as_posix()
        if key in mapping and mapping[key] != label:
            raise GuiappError(f"{path}:{n}: {name} is listed twice, as {mapping[key]!r} "
                              f"(line {line_of[key]}) and as {label!r}")
        mapping[key], line_of[key] = label, n
    if not mapping:
        raise GuiappError(f"targets file {path} has no rows")
    return mapping
