"""Saving the adversarial image: where (PNG only, never over the input), then save and re-check.

The order matters to the user: a name we would refuse (the input itself) is refused
before anything asks "Replace?", and a JPEG name is answered with why it would destroy
the noise and an offer to save the PNG instead, never silently renamed to `x.jpg.png`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from ..core.api import output_metadata, save_and_verify
from ..core.errors import GuiappError
from ..core.imageio import IMAGE_SUFFIXES, check_output_path
from ..core.models import Classifier
from .jobs import Jobs

LOSSY = {".jpg", ".jpeg", ".webp"}


def png_name(chosen: Path) -> tuple[Path, str | None]:
    """The PNG to write for a name the user typed, and why it differs (None: same name).

    `photo` -> `photo.png` without a question; `photo.jpg` -> `photo.png` with the reason.
    """
    suffix = chosen.suffix.lower()
    if suffix == ".png":
        return chosen, None
    if suffix in LOSSY:
        return chosen.with_suffix(".png"), (
            f"{chosen.suffix[1:].upper()} would destroy the noise: its lossy compression changes the very "
            "pixel values the attack set, and the saved image would no longer be classified as the target.")
    if suffix in IMAGE_SUFFIXES:
        return chosen.with_suffix(".png"), (
            "guiapp saves PNG only: it is lossless and every program reads it the same way.")
    return chosen.with_name(chosen.name + ".png"), None  # no image suffix: just add one


def choose_output(parent: QWidget, suggestion: Path, protect: list[Path],
                  on_error: Callable[[str], None]) -> Path | None:
    """Ask for a file name; None if the user cancelled or the name was refused (reported
    through `on_error`)."""
    chosen, _ = QFileDialog.getSaveFileName(
        parent, "Save adversarial PNG", str(suggestion), "PNG (*.png)",
        # We ask "Replace?" ourselves, after refusing names we would never write.
        options=QFileDialog.Option.DontConfirmOverwrite,
    )
    if not chosen:
        return None
    path, why = png_name(Path(chosen))
    if why is not None:
        answer = QMessageBox.question(
            parent, "Save as PNG?", f"{why}\n\nSave it as {path.name} instead?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save,
        )
        if answer != QMessageBox.StandardButton.Save:
            return None
    try:
        check_output_path(path, protect)
    except GuiappError as exc:  # the input itself
        on_error(str(exc))
        return None
    if path.exists():
        answer = QMessageBox.question(
            parent, "Replace?", f"{path.name} already exists in {path.parent}. Replace it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return None
    return path


def start_save(jobs: Jobs, model: Classifier, path: Path, result, image, config,
               on_done: Callable[[tuple], None]) -> None:
    """Save atomically (never over the input) in a worker, then re-read and classify the file."""
    protect = [image.path] if image.path else []
    meta = output_metadata(model, result.target, config, result.steps, image.path.name if image.path else "")
    jobs.run(
        "save",
        lambda: save_and_verify(model, path, result.adversarial, image.alpha, meta, protect=protect),
        on_done, message=f"Saving {path.name}…",
    )
