"""The model and the image the window works on: loading each in a worker (side by side,
neither waiting for the other), classifying the original once both are there, and the
outline of the crop the model classifies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog

from ..core.device import describe_device
from ..core.imageio import ACCEPTED_FORMATS, IMAGE_SUFFIXES, LoadedImage, describe_mode, load_image
from ..core.models import Classifier, load_model
from ..core.predict import predict_image
from ..core.saliency import crop_rect
from . import user_model_ui
from .dialogs import max_pixels
from .startup import trace

if TYPE_CHECKING:
    from .main_window import MainWindow

# Everything that belongs to one image (and its runs): dropped when another opens.
PER_IMAGE_JOBS = ("predict", "attack", "result", "judges", "defence", "save", "noise", "saliency", "report")


def image_filter() -> str:
    """File > Open's filter: every extension Pillow maps to a format load_image accepts
    (PGM and PPM included), so the filter never hides a file the app reads."""
    suffixes = set(IMAGE_SUFFIXES) | {ext for ext, fmt in Image.registered_extensions().items()
                                      if fmt in ACCEPTED_FORMATS or fmt == "MPO"}
    return "Images (" + " ".join(f"*{s}" for s in sorted(suffixes)) + ");;All files (*)"


class Subject(QObject):
    def __init__(self, win: MainWindow) -> None:
        super().__init__(win)
        self.win = win

    # ---------------------------------------------------------------- model
    def start_model_job(self, name: str) -> None:
        win = self.win
        win.jobs.run("model", lambda: load_model(name, win.device_request), self.use_model,
                     self._model_failed, f"Loading model {name}…")

    def load_model(self, name: str) -> None:
        win = self.win
        win.jobs.drop("attack", "result", "judges", "saliency")
        win.defences.reset()  # what the old model saw after a defence, or its running defence
        win.model = None
        win.status_model.setText(f"loading {name}…")
        win.set_running(False)
        self.start_model_job(name)

    def use_model(self, model: Classifier) -> None:
        """`model` becomes the window's: its load finished, or it was in use before another
        failed to load and is put back (user_model_ui.fall_back)."""
        win = self.win
        win.model = model
        trace("model-ready")
        win.status_model.setText(f"model: {user_model_ui.short_name(model.name)}")
        win.status_model.setToolTip(model.name)
        win.status_device.setText(f"device: {describe_device(model.device)}")
        win.predictions.set_model_name(user_model_ui.short_name(model.name))
        win.form.set_model_name(model.name)
        if win.target_field.labels is not model.labels:
            win.target_field.set_labels(model.labels)  # the target is one of this model's own classes
        user_model_ui.model_loaded(win, model)
        win.set_running(False)
        if win.image is not None:
            self.predict_original()
            self.show_crop()
            win.insights.set_original(model, win.image.rgb)
            if win.run is not None and not win.run.result.cancelled:
                # What the new model sees in the run shown.
                win.report.show(model, win.run, announce=False)
                win.insights.show_result(model, win.run)
        win.model_ready.emit()

    def _model_failed(self, message: str) -> None:
        self.win.status_model.setText("no model (see the message)")

    # ---------------------------------------------------------------- image
    def open_dialog(self) -> None:
        win = self.win
        start = str(win.settings.value("last_dir", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(win, "Open image", start, image_filter())
        if path:
            win.open_image(path)

    def open_image(self, path: Path, may_show: Callable[[], bool] | None = None) -> None:
        """Read `path` in a worker, then show it if `may_show()` (asked once it was read)."""
        win = self.win
        win.settings.setValue("last_dir", str(path.parent))
        limit = max_pixels(win.settings)
        win.jobs.run("image", lambda: load_image(path, max_pixels=limit),
                     lambda loaded: self._image_loaded(path, loaded, may_show), message=f"Opening {path.name}…")

    def _image_loaded(self, path: Path, loaded: LoadedImage, may_show: Callable[[], bool] | None = None) -> None:
        if may_show is not None and not may_show():
            return  # kept the image open (the user said Cancel, or Save and then opens it again)
        win = self.win
        win.jobs.drop(*PER_IMAGE_JOBS)  # they belong to the previous image
        win.image, win.original_preds = loaded, []
        win.session.show(None)
        win._remember(path)
        w, h = loaded.size
        kind = describe_mode(loaded)  # "16-bit greyscale", not Pillow's "I;16"
        alpha = "" if loaded.alpha is None else ", kept in the output" if "alpha" in kind else ", alpha kept"
        win.views.set_original(loaded.rgb, f"{path.name} — {w}x{h}, {kind}{alpha}", loaded.alpha)
        win.views.caption.setToolTip(str(path) + "".join(f"\n{note}" for note in loaded.notes))
        win._image_note = "; ".join(loaded.notes)
        if not win.busy.isVisible():  # else it shows when the busy message goes
            win._show_busy(False, "")
        win.setWindowTitle(f"guiapp — {path.name}")
        win.plot.clear()
        win.pred_original.clearContents()
        win.pred_adversarial.clearContents()
        if win.model is not None:  # drops a run's "(a surrogate of this run)" with its result
            win.predictions.set_model_name(win.model.name)
        win.panel.clear_outcome()
        win.defences.reset()
        left = win.session.runs
        win.kept.write(left)  # the image left: the figures its runs gained since
        win.kept.release(left)  # and its runs' memory, when they are all on disk
        runs = win.session.switch_to(str(path))  # this image's runs: none yet, or those of an earlier visit
        win.kept.read_back(runs, loaded)  # and those of earlier sessions
        win.status_rate.setText("")
        win.insights.set_original(win.model, loaded.rgb)
        self.show_crop()
        self.predict_original()
        win.set_running(False)

    def show_crop(self) -> None:
        win = self.win
        if win.model is not None and win.image is not None:
            w, h = win.image.size
            win.views.set_crop(crop_rect(win.model.spec, h, w))

    def predict_original(self) -> None:
        win = self.win
        model, image = win.model, win.image
        if model is None or image is None:
            return  # the other one's arrival calls this again

        def done(preds: list) -> None:
            win.original_preds = preds
            win.pred_original.show_predictions(preds)
            trace("image-ready")
            win.image_ready.emit()

        win.jobs.run("predict", lambda: predict_image(model, image), done, message="Classifying…")
