"""Which files of a batch's input folder it sees, where each one's output goes, and the
plan entries the journal records: every file gets a row (an image to attack, a file that
is not an image, an image the targets CSV does not list), so nothing is skipped in silence.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import GuiappError
from ..imageio import IMAGE_SUFFIXES
from ..png_output import read_png_metadata
from .journal import PlanEntry
from .report import REPORT_CSV, REPORT_JSON
from .task import PNG_KEY, image_key, target_spec

IN_PLACE_SUFFIX = ".adv.png"  # output names when the output folder is the input folder


class FolderPlan:
    """The input folder's files and their outputs (never over an input)."""

    def __init__(self, input_dir: Path, out_dir: Path, recursive: bool) -> None:
        self.input_dir, self.out_dir, self.recursive = input_dir, out_dir, recursive
        self.in_place = out_dir.resolve() == input_dir.resolve()
        self.inputs: frozenset[Path] = frozenset()  # the planned inputs, which outputs must avoid

    def listing(self) -> tuple[list[Path], list[Path]]:
        """(candidate image files, non-image files), relative to the input folder, sorted.
        Every entry but folders and hidden files is listed, so it gets a report row: a
        symbolic link that leads nowhere (dangling, or a loop) with an image's name becomes
        an error row saying so, not silence."""
        walker = self.input_dir.rglob("*") if self.recursive else self.input_dir.iterdir()
        images: list[Path] = []
        others: list[Path] = []
        out = self.out_dir.resolve()
        for p in sorted(walker):
            if p.name.startswith(".") or p.is_dir():
                continue
            try:
                real = p.resolve()
            except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
                real = p
            if self.in_place:
                if p.parent.resolve() == out and p.name in (REPORT_CSV, REPORT_JSON):
                    continue
                if p.name.endswith(IN_PLACE_SUFFIX) and _is_our_output(p):
                    continue
            elif out in real.parents:
                continue  # our own outputs, when they are allowed inside the input tree
            (images if p.suffix.lower() in IMAGE_SUFFIXES else others).append(p.relative_to(self.input_dir))
        return images, others

    def output_for(self, rel: Path, taken: set[Path]) -> Path:
        """The output of input `rel`, not one of `taken` (which it joins) nor an input."""
        if self.in_place:  # beside the input, never over it
            out = self.out_dir / rel.parent / (rel.stem + IN_PLACE_SUFFIX)
            while out in taken or out.relative_to(self.out_dir) in self.inputs:
                out = out.with_name(out.name.removesuffix(".png") + IN_PLACE_SUFFIX)
        else:
            out = self.out_dir / rel.with_suffix(".png")
            if out in taken:  # a.jpg and a.png in one folder: keep both, as a.jpg.png
                out = self.out_dir / rel.parent / (rel.name + ".png")
        taken.add(out)
        return out

    def entries(self, run_key: str, mapping: dict[str, int] | None, fixed_target: int | None,
                random_seed: int | None) -> tuple[list[PlanEntry], list[PlanEntry]]:
        """(every file of the folder as a journal plan entry, the image entries to attack);
        an image's target: `mapping`'s (the targets CSV) when given, else `fixed_target`
        (None: a random one drawn with `random_seed`)."""
        images, others = self.listing()
        self.inputs = frozenset(images) | frozenset(others)
        entries = [PlanEntry(rel.as_posix(), "", "other", "not an image file (by extension)") for rel in others]
        attackable: list[PlanEntry] = []
        taken: set[Path] = set()
        for rel in images:
            name = rel.as_posix()
            if mapping is not None and name not in mapping:
                entries.append(PlanEntry(name, "", "unlisted", "no target for this file in the targets CSV"))
                continue
            target = mapping[name] if mapping is not None else fixed_target
            spec = target_spec(target, random_seed)
            try:
                st = (self.input_dir / rel).stat()
                size, mtime = st.st_size, st.st_mtime_ns
            except OSError:
                size, mtime = -1, -1  # gone since the listing: its job reports the error
            out = self.output_for(rel, taken).relative_to(self.out_dir).as_posix()
            entry = PlanEntry(name, out, "image", "", image_key(run_key, spec), spec, size, mtime)
            entries.append(entry)
            attackable.append(entry)
        entries.sort(key=lambda e: e.input)
        return entries, attackable

    def check_mapping(self, mapping: dict[str, int] | None) -> None:
        """A targets-CSV row naming no image of the folder is a mistake (a path relative to
        the CSV's folder, a typo, a file moved away): refused before anything is written,
        never skipped in silence."""
        if mapping is None:
            return
        present = {rel.as_posix() for rel in self.listing()[0]}
        stray = sorted(set(mapping) - present)
        if stray:
            n = len(stray)
            raise GuiappError(
                f"the targets CSV names {n} file{'s' if n != 1 else ''} that {'are' if n != 1 else 'is'} not an "
                f"image of {self.input_dir}{'' if self.recursive else ' (its top level: not recursive)'}: "
                f"{', '.join(stray[:5])}{' ...' if n > 5 else ''}. Paths are relative to the input folder (or "
                "absolute inside it)")


def _is_our_output(path: Path) -> bool:
    try:
        return PNG_KEY in read_png_metadata(path)
    except Exception:  # not a readable PNG: then it is an input like any other
        return False
