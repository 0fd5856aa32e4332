"""Which earlier results a batch may keep, and what to say when the settings changed.

An image is skipped only when its latest journal row says "ok" (or "failed" after asking a
query-mode victim: asking again would spend the same questions on the same answers), was made with the same
settings (model and weights, mode and every attack option, centroid data, the target of
this file) *and* its PNG on disk is still the one written: the same bytes as the sha256
and size the journal recorded, or, for rows of versions that recorded none, a PNG that
decodes to its last row. Reading the metadata alone was not enough (issue 33 item 5): a
PNG cut in half keeps its text chunks. Results made with other settings are never
reported as this run's: the run is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PIL import Image

from ..errors import GuiappError
from ..png_output import read_png_metadata
from .journal import Finished, PlanEntry
from .task import PNG_KEY, OutputDigest

EARLIER = "done in an earlier run"  # a kept success's note (the window shows such a row as "kept")
ASKED_EARLIER = "in an earlier run: its victim is not asked again; --force asks again"


class SettingsChangedError(GuiappError):
    """The output folder holds results made with other settings."""


def split_done(attackable: list[PlanEntry], latest: dict[str, Finished], out_dir: Path, weights: str,
               force: bool) -> tuple[list[PlanEntry], list[tuple[PlanEntry, Finished]],
                                     list[tuple[PlanEntry, Finished]]]:
    """The images still to attack, those an earlier run finished whose PNG still holds (with
    that run's row), and those finished with other settings (a resume refuses them; `force`
    redoes everything)."""
    todo: list[PlanEntry] = []
    kept: list[tuple[PlanEntry, Finished]] = []
    mismatched: list[tuple[PlanEntry, Finished]] = []
    for entry in attackable:
        found = latest.get(entry.input)
        if found is not None and finished(found) and not force:
            if found.key != entry.key:
                mismatched.append((entry, found))
                continue
            if result_on_disk_matches(out_dir, entry, found, weights):
                kept.append((entry, found))
                continue
        todo.append(entry)
    return todo, kept, mismatched


def finished(found: Finished) -> bool:
    """Is this journal row a result a resume keeps: a success, or a query-mode failure that
    asked its victim (the victim said no to those questions; a resumed batch asks nothing
    again, and the rerun would not spend the run's total budget on it)."""
    return found.status == "ok" or (found.status == "failed" and (found.row.queries or 0) > 0)


def result_on_disk_matches(out_dir: Path, entry: PlanEntry, found: Finished, weights: str) -> bool:
    """Is the PNG on disk the one the journal describes for this input (same key, crafting
    weights, target and source file)? Anything else is redone."""
    if not finished(found) or (found.size, found.mtime) != (entry.size, entry.mtime):
        return False
    if found.row.output != entry.output:
        return False
    path = out_dir / entry.output
    try:
        meta = read_png_metadata(path)
        if found.out_sha256:
            # Cheaper than decoding, and it also catches a swapped file that decodes.
            if path.stat().st_size != found.out_size or OutputDigest.of(path).sha256 != found.out_sha256:
                return False
        elif not _decodes_fully(path):
            return False
    except Exception:  # missing, unreadable, not a PNG any more: redo it
        return False
    return (
        meta.get(PNG_KEY) == entry.key
        and meta.get("weights") == weights
        and meta.get("target", "").split(" ", 1)[0] == str(found.row.target)
        # another input's result copied over this one carries that input's name
        and meta.get("source") == Path(entry.input).name
    )


def _decodes_fully(path: Path) -> bool:
    """Every row of pixels is there (Pillow raises on a truncated PNG unless told not to;
    the decoded image is dropped at once, so only one output is in memory at a time)."""
    with Image.open(path, formats=("PNG",)) as img:
        img.load()
    return True


def describe_changes(old: dict, new: dict) -> list[str]:
    """'eps: 16 -> 8' style differences between two run_settings dicts."""
    changes = []
    flat_old = {**{k: v for k, v in old.items() if k != "config"}, **old.get("config", {})}
    flat_new = {**{k: v for k, v in new.items() if k != "config"}, **new.get("config", {})}
    for key in sorted(set(flat_old) | set(flat_new)):
        if flat_old.get(key) != flat_new.get(key):
            changes.append(f"{key}: {flat_old.get(key)} -> {flat_new.get(key)}")
    return changes


def settings_changed(out_dir: Path, old: dict, new: dict, mismatched: list[tuple[PlanEntry, Finished]],
                     spec_text: Callable[[str], str]) -> SettingsChangedError:
    """The error that refuses a run over results made with other settings, saying what changed."""
    entry, found = mismatched[0]
    changes = describe_changes(old, new)
    if found.spec != entry.spec:
        changes.append(f"target of {entry.input}: {spec_text(found.spec)} -> {spec_text(entry.spec)}")
    n = len(mismatched)
    return SettingsChangedError(
        f"{out_dir} holds {n} result{'s' if n > 1 else ''} made with other settings "
        f"({'; '.join(changes[:4]) or 'settings differ'}); choose another output folder, or redo "
        f"{'them' if n > 1 else 'it'} with the new settings"
    )
