"""Saving the adversarial image: where (PNG only, never over the input), then save and re-check.

The order matters to the user: a name we would refuse (the input itself) is refused
before anything asks "Replace?", and a JPEG name is answered with why it would destroy
the noise and an offer to save the PNG instead, never silently renamed to `x.jpg.png`.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from ..core.attack_report import seen_phrase
from ..core.errors import GuiappError
from ..core.imageio import IMAGE_SUFFIXES
from ..core.pipeline import default_output_path
from ..core.png_output import check_output_path
from ..core.saved_result import Verification, save_result
from .run_report import GREEN, RED, coloured
from .run_store import StoredRun, copy_png

if TYPE_CHECKING:
    from .main_window import MainWindow

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


OUTPUT_DIR_KEY = "save/last_dir"  # where the user last saved a PNG or exported a plot or report


def output_folder(win: MainWindow, fallback: Path) -> Path:
    """Where a Save or Export dialog opens: the folder the user last saved into (still
    there), else `fallback` (the image's folder: the CLI's default too)."""
    stored = win.settings.value(OUTPUT_DIR_KEY, "")
    folder = Path(stored) if isinstance(stored, str) and stored else None
    return folder if folder is not None and folder.is_dir() else fallback


def remember_output_folder(win: MainWindow, path: Path) -> None:
    win.settings.setValue(OUTPUT_DIR_KEY, str(Path(path).parent))


def save_with_dialog(win: MainWindow, entry: Any = None, then: Callable[[], object] | None = None) -> bool:
    """File > Save (the run shown) or the history's Save (`entry`, any run of any image):
    ask where (suggesting <input>_adv_<target>.png), then save; `then` runs once it is
    saved. False if nothing is being saved (no run, the user cancelled, a refused name)."""
    run = entry.run if entry is not None else win.run
    source = run.plan.image.path if run is not None else None  # the run's own image, maybe not the one shown
    if source is None:
        return False
    suggestion = default_output_path(source, run.plan.target_name, run.plan.config)
    suggestion = output_folder(win, suggestion.parent) / suggestion.name
    path = choose_output(win, suggestion, [source], win.show_error)
    if path is None:
        return False
    remember_output_folder(win, path)
    save(win, path, entry, then)
    return True


def save(win: MainWindow, path: Path, entry: Any = None, then: Callable[[], object] | None = None) -> None:
    """Save a run through the pipeline in a worker: the PNG with the metadata of the
    run's plan (the file `guiapp-cli attack` writes), then the re-read and the crafting
    models' verdict on it, shown under the result. `entry`: a run of the history (default:
    the run shown); its PNG is the same, byte for byte, whenever it is saved. `then`: what
    to do once it is saved (what the unsaved-result question held back)."""
    run = entry.run if entry is not None else win.run
    if run is None:
        return
    if entry is None:
        entry = win.session.entry_of(run)
    source = run.plan.image.path
    try:
        check_output_path(path, [source] if source else [])
    except GuiappError as exc:
        win.show_error(str(exc))
        return

    if isinstance(run, StoredRun):  # a run of an earlier session: its PNG as the pipeline wrote it then
        save_kept(win, run, path, entry, then)
        return

    def done(verified: Verification) -> None:
        if len(verified.seen_by) > 1:  # each model's own verdict, never their average as if one (issue 34 item 3)
            target = run.plan.target_name
            said = "; ".join(coloured(html.escape(seen_phrase(v, target)), GREEN if v["top1_name"] == target else RED)
                             for v in verified.seen_by)
            line = f"Saved <b>{html.escape(verified.path.name)}</b>. Re-read from disk: {said}."
        else:
            name = coloured(html.escape(verified.final.name), GREEN if verified.success else RED)
            line = (f"Saved <b>{html.escape(verified.path.name)}</b>. Re-read from disk, it is classified as "
                    f"{name} ({verified.final.confidence:.1%}).")
        win.panel.show_line(win.save_label, line)
        saved(win, entry, verified.path, then)

    win.jobs.run("save", lambda: save_result(run.plan, run.result, path), done, message=f"Saving {path.name}…")


def save_kept(win: MainWindow, run: StoredRun, path: Path, entry: Any, then: Callable[[], object] | None) -> None:
    """A run read back from the History folder: no models to re-check it with, but its PNG
    is the file the pipeline wrote when the run was made (run_store.write_run)."""
    def done(written: Path) -> None:
        win.panel.show_line(win.save_label, f"Saved <b>{html.escape(written.name)}</b>: the PNG of this run as "
                                            "the pipeline wrote it when the run was made, byte for byte.")
        saved(win, entry, written, then)

    win.jobs.run("save", lambda: copy_png(run, path), done, message=f"Saving {path.name}…")


def saved(win: MainWindow, entry: Any, path: Path, then: Callable[[], object] | None) -> None:
    if entry is not None:
        entry.saved.append(str(path))
        win.session.changed(entry)
        win.kept.write_all()  # where it was saved: the History says it after a restart too
    win.saved.emit(str(path))
    if then is not None:
        then()

