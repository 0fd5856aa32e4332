"""Help > About, Edit > Preferences, and the questions asked before work is thrown away."""

from __future__ import annotations

import os
import platform
from importlib import metadata

import torch
from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QMessageBox,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .. import __version__
from ..core.attacks import AttackConfig
from ..core.device import describe_device
from ..core.errors import GuiappError
from ..core.imageio import MAX_PIXELS
from ..core.memory import GIB, available_bytes
from ..core.models import Classifier
from ..core.pipeline import memory_estimate
from ..core.threads import DEFAULT_THREADS, apply_threads, requested_threads

MAX_PIXELS_KEY = "open/max_pixels"
THREADS_KEY = "run/threads"


def licence() -> str:
    try:
        meta = metadata.metadata("guiapp")
        return (meta["License"] if "License" in meta else None) or "MIT"
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "MIT"


def about_text(model: Classifier | None) -> str:
    if model is None:
        model_line, device_line = "still loading", "not chosen yet"
    else:
        model_line = f"{model.name} (weights {model.fingerprint[:12]})"
        device_line = describe_device(model.device)
    return (
        f"<h3>guiapp {__version__}</h3>"
        "<p>A studio for targeted adversarial noise on ImageNet classifiers: open a photo, pick the "
        "label the classifier should see, save a PNG that looks unchanged but is classified as it.</p>"
        f"<p><b>Model:</b> {model_line}<br><b>Device:</b> {device_line}<br>"
        f"<b>Licence:</b> {licence()}<br>"
        f"<b>Using:</b> Python {platform.python_version()}, PyTorch {torch.__version__}, "
        f"PySide6 {pyside_version}</p>"
        "<p>Command line: <code>guiapp-cli --help</code>. Documentation: README.md.</p>"
    )


def confirm_close(parent: QWidget, what: str) -> bool:
    """Closing would throw work away: ask first. True: stop it and close."""
    box = QMessageBox(QMessageBox.Icon.Question, "Quit guiapp?", f"{what} Closing the window stops it and its "
                      "result is lost.", parent=parent)
    quit_button = box.addButton("Stop and quit", QMessageBox.ButtonRole.DestructiveRole)
    keep = box.addButton("Keep working", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.exec()
    return box.clickedButton() is quit_button


def confirm_stop(parent: QWidget, what: str, doing: str, outcome: str = "its result is lost") -> bool:
    """`doing` ("Opening coffee.jpg") would stop the work under way (`what`): ask first,
    saying what becomes of it (`outcome`). True: stop it and go on."""
    box = QMessageBox(QMessageBox.Icon.Question, "Stop?", f"{what} {doing} stops it and {outcome}.", parent=parent)
    go_on = box.addButton("Stop and go on", QMessageBox.ButtonRole.DestructiveRole)
    keep = box.addButton("Keep working", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.exec()
    return box.clickedButton() is go_on


def ask_unsaved(parent: QWidget, title: str, text: str, detail: str, save: str, discard: str) -> str:
    """A finished run is not saved: 'save' (the button `save`), 'discard' (`discard`: go on
    without saving it) or 'cancel' (do nothing)."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=parent)
    box.setInformativeText(detail)
    save_button = box.addButton(save, QMessageBox.ButtonRole.AcceptRole)
    discard_button = box.addButton(discard, QMessageBox.ButtonRole.DestructiveRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(save_button)
    box.setEscapeButton(cancel)
    box.exec()
    clicked = box.clickedButton()
    return "save" if clicked is save_button else "discard" if clicked is discard_button else "cancel"


def show_about(parent: QWidget, model: Classifier | None) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Information, "About guiapp", about_text(model), parent=parent)
    box.open()  # non-blocking, like every other message of the window
    return box


def max_pixels(settings: QSettings) -> int:
    stored = settings.value(MAX_PIXELS_KEY, MAX_PIXELS)
    if not isinstance(stored, str | bytes | int | float):  # what float() refused with a TypeError
        return MAX_PIXELS
    try:
        value = int(float(stored))
    except ValueError:
        return MAX_PIXELS
    return value if value > 0 else MAX_PIXELS


def threads(settings: QSettings) -> int:
    """CPU threads per attack: the preference, else $GUIAPP_THREADS, else 1 (guiapp.core.threads)."""
    stored = settings.value(THREADS_KEY)
    try:
        return requested_threads(stored if stored not in (None, "") else None)
    except GuiappError:
        return DEFAULT_THREADS


class PreferencesDialog(QDialog):
    """Settings that are not about one attack: the largest image the app opens, the CPU
    threads an attack uses."""

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.settings = settings
        self.megapixels = QDoubleSpinBox(decimals=1, minimum=0.1, maximum=1000.0, singleStep=8.0)
        self.megapixels.setSuffix(" megapixels")
        self.megapixels.setValue(max_pixels(settings) / 1e6)
        self.megapixels.setToolTip(
            "Larger images are refused before they are decoded: a guard against decompression bombs\n"
            "and against attacks that would not fit in memory (the attack works at full resolution).")
        self.threads = QSpinBox(minimum=1, maximum=max(1, os.cpu_count() or 1))
        self.threads.setValue(min(threads(settings), self.threads.maximum()))
        self.threads.setToolTip(
            "CPU threads one attack uses. 1 (the default) is as fast as more on a quiet machine and several\n"
            "times faster when other programs keep the cores busy (docs/BENCHMARKS.md). A GPU ignores it.")
        form = QFormLayout()
        form.addRow("Largest image to open", self.megapixels)
        form.addRow("CPU threads per attack", self.threads)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.megapixels.valueChanged.connect(self._explain)
        self._explain()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.note)
        lay.addWidget(buttons)

    def _explain(self) -> None:
        pixels = int(self.megapixels.value() * 1e6)
        need = memory_estimate(AttackConfig())(pixels, 1) / GIB
        free, where = available_bytes()
        have = f"; {free / GIB:.1f} GiB of {where} is free now" if free is not None else ""
        self.note.setText(
            f"Default {MAX_PIXELS / 1e6:.0f} MP (about 8000x8000). An attack on an image of this size "
            f"needs about {need:.1f} GiB (default mode){have}. Start refuses an attack that would not fit.")

    def accept(self) -> None:
        self.settings.setValue(MAX_PIXELS_KEY, int(round(self.megapixels.value() * 1e6)))
        self.settings.setValue(THREADS_KEY, self.threads.value())
        apply_threads(self.threads.value())
        super().accept()
