"""A user's own models in the window: the Model list's *Add model…* entry (a file dialog
for a model file or its card), the models added before (remembered between sessions),
what a loaded model is (its card, what was assumed) under the list, going back to the
model in use when another fails to load, and *Check on a folder…* (top-1/top-5 on
labelled photos, in a worker, with progress and Cancel)."""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QSettings, Qt, Signal, Slot
from PySide6.QtWidgets import QComboBox, QFileDialog, QMessageBox, QProgressDialog

from ..core.model_specs import is_user_spec
from . import window_state
from .workers import Worker

if TYPE_CHECKING:
    from .main_window import MainWindow
    from .option_fields import ModelChecklist

ADD_MODEL = "\x00add-model"  # the combo data of the "Add model…" entry
USER_MODELS_KEY = "models/user"
MAX_REMEMBERED = 12
MODEL_FILTER = ("Models (*.onnx *.pt *.pth *.pt2 *.ts *.jit *.torchscript *.json);;ONNX (*.onnx);;"
                "TorchScript (*.pt *.pth *.ts *.jit *.torchscript);;torch.export (*.pt2);;Model card (*.json);;"
                "All files (*)")


def remembered(settings: QSettings) -> list[str]:
    value = settings.value(USER_MODELS_KEY) or []
    specs = [value] if isinstance(value, str) else [str(v) for v in value]
    return [s for s in specs if is_user_spec(s)][:MAX_REMEMBERED]


def remember(settings: QSettings, spec: str) -> None:
    specs = [spec, *(s for s in remembered(settings) if s != spec)][:MAX_REMEMBERED]
    settings.setValue(USER_MODELS_KEY, specs)


def forget(settings: QSettings, spec: str) -> None:
    settings.setValue(USER_MODELS_KEY, [s for s in remembered(settings) if s != spec])


def short_name(spec: str) -> str:
    return Path(spec).name if not spec.startswith(("torchvision:", "timm:")) else spec


def install(win: MainWindow) -> None:
    """Add the remembered models and *Add model…* to the Model list, and handle a choice."""
    combo: QComboBox = win.model_combo
    for spec in remembered(win.settings):
        add_to_combo(combo, spec)
        offer(win, spec)
    combo.addItem("Add model…", ADD_MODEL)
    combo.setItemData(combo.count() - 1, "Your own classifier: an ONNX, TorchScript (.pt) or torch.export (.pt2) "
                      "file, or its card (.json); its card NAME.json beside it gives labels and preprocessing "
                      "(docs/MODELS.md)", Qt.ItemDataRole.ToolTipRole)
    combo.activated.connect(lambda _: chosen(win))
    # studio.start is loading the remembered model already: a failure there is undone too.
    _Fallback(win, asked=window_state.remembered_model(win.settings))


class _Fallback(QObject):
    """What to go back to when a model fails to load. Subject.load_model lets go of the
    model in use before the next one loads (win.model is None meanwhile); without this,
    a file that was not a model left the window on nothing: Start disabled under "The
    model is loading…" for good, and the file listed as a choice until a restart."""

    def __init__(self, win: MainWindow, asked: str) -> None:
        super().__init__(win)
        self.win = win
        self.asked = asked  # the model being (or last) asked for
        self.in_use: Any = None  # the last model that loaded: kept alive to be put back
        # After MainWindow._job_failed (connected first): the error box is up, then this.
        win.jobs.failed.connect(self._job_failed)

    @Slot(str, str)
    def _job_failed(self, kind: str, _message: str) -> None:
        if kind == "model":  # only the wanted load reports: a superseded one's failure is dropped
            fall_back(self.win, self.asked, self.in_use)


def _fallback(win: MainWindow) -> _Fallback | None:
    return win.findChild(_Fallback)


def loading(win: MainWindow, name: str) -> None:
    """`name` is asked for (MainWindow.load_model): the one to drop should it fail."""
    fallback = _fallback(win)
    if fallback is not None:
        fallback.asked = name


def fall_back(win: MainWindow, failed: str, previous: Any) -> None:
    """`failed` did not load (the error box said why): a user's file leaves the list and
    the remembered models; the model used before it is back, or the window says to pick one."""
    combo: QComboBox = win.model_combo
    if is_user_spec(failed):  # a shipped name stays listed (its tooltip says why it is unusable)
        forget(win.settings, failed)
        if (row := combo.findData(failed)) >= 0:
            combo.removeItem(row)
        for checklist in _checklists(win):
            checklist.remove_model(failed)
    if previous is not None:
        # As when it loaded: the status bar, the target's labels, the predictions, Start, the list.
        win.subject.use_model(previous)
        show_current(win)
        return
    combo.setCurrentIndex(-1)  # nothing in use: the list shows no model rather than the failed one
    win.status_model.setText("no model: pick another in the Model list")
    win.status_model.setToolTip("")
    win.set_running(False)  # Start's hint: pick another model (nothing is loading any more)


def _checklists(win: MainWindow) -> list[ModelChecklist]:
    from .option_fields import ModelChecklist

    return win.form.findChildren(ModelChecklist)


def offer(win: MainWindow, spec: str) -> None:
    """A user's model as a surrogate and a judge too, as the CLI's --surrogates and --judge
    take any model spec (walked: added models were never offered there)."""
    for checklist in _checklists(win):
        checklist.add_model(spec, short_name(spec))


def add_to_combo(combo: QComboBox, spec: str) -> int:
    """The list's row of `spec`, added (before *Add model…*) if it is not there yet."""
    found = combo.findData(spec)
    if found >= 0:
        return found
    add_row = combo.findData(ADD_MODEL)
    row = add_row if add_row >= 0 else combo.count()
    combo.insertItem(row, short_name(spec), spec)
    combo.setItemData(row, spec, Qt.ItemDataRole.ToolTipRole)
    return row


def chosen(win: MainWindow) -> None:
    combo: QComboBox = win.model_combo
    data = combo.currentData()
    if data != ADD_MODEL:
        win.load_model(data)
        return
    start = str(win.settings.value("models/last_dir", str(Path.home())))
    path, _ = QFileDialog.getOpenFileName(win, "Add model", start, MODEL_FILTER)
    if not path:
        show_current(win)  # back to the model in use
        return
    win.settings.setValue("models/last_dir", str(Path(path).parent))
    spec = str(Path(path).resolve())
    combo.setCurrentIndex(add_to_combo(combo, spec))
    win.load_model(spec)


def show_current(win: MainWindow) -> None:
    model = getattr(win, "model", None)
    if model is not None:
        win.model_combo.setCurrentIndex(win.model_combo.findData(model.name))


def model_loaded(win: MainWindow, model: Any) -> None:
    """A user's model that loaded is remembered; the note under the list says what it is."""
    fallback = _fallback(win)
    if fallback is not None:
        fallback.in_use = model
    if is_user_spec(model.name):
        remember(win.settings, model.name)
        win.model_combo.setCurrentIndex(add_to_combo(win.model_combo, model.name))
        offer(win, model.name)
    win.panel.show_model_note(describe(model) if is_user_spec(model.name) or model.notes else "")


def describe(model: Any) -> str:
    """What a loaded model is, in a few lines of HTML: the card's answer and its notes."""
    from ..core.models.split import LOGITS_LAYER  # (torch: imported by now, not at the window's start)

    spec = model.spec
    how = f"squashed to {spec.crop} px" if spec.squash else f"short side {spec.resize} px, centre crop {spec.crop}"
    first = ", ".join(c.name for c in model.labels.classes[:3])
    lines = [f"{len(model.labels)} classes ({html.escape(first)}…) · {how}"
             + (" · BGR" if getattr(model, "channel_order", "RGB") == "BGR" else "")]
    if model.feature_layer != LOGITS_LAYER:  # else its note says so, in more words (walked: said twice)
        lines.append(f"features: {html.escape(model.feature_layer)}")
    if not model.differentiable:
        lines.append("<b>oracle only</b>: predicts and judges; no attack mode can use it")
    # The notes name the model (for the CLI's lines); here the list above names it already, and
    # a file's whole path cost two lines of a panel that must fit 1366x768.
    lines += [f"<i>{html.escape(note.removeprefix(f'{model.name}: '))}</i>" for note in model.notes]
    return "<br>".join(lines)


class CheckWorker(Worker):
    """models check in a worker: top-1/top-5 on a labelled folder, image by image."""

    progress = Signal(int, int, int)  # job id, done, total

    def __init__(self, model: Any, folder: Path, job_id: int = 0) -> None:
        super().__init__(job_id)
        self.model, self.folder = model, folder
        self._stop = threading.Event()

    def cancel(self) -> None:
        self._stop.set()

    def work(self) -> Any:
        from ..core.errors import Cancelled
        from ..core.model_check import check_model, labelled_images

        pairs = labelled_images(self.folder, self.model)
        result = None
        for done, running in enumerate(check_model(self.model, pairs), 1):
            self.progress.emit(self.job_id, done, len(pairs))
            if self._stop.is_set():
                raise Cancelled("check cancelled")
            result = running
        return result


class _CheckProgress(QObject):
    """The check's progress, received in the GUI thread. A plain function connected to the
    worker's signal ran in the worker thread and set the progress dialog from there: a
    segmentation fault now and then (test_user_model, about one run in three)."""

    def __init__(self, win: MainWindow, dialog: QProgressDialog) -> None:
        super().__init__(dialog)  # lives in the GUI thread: the signal is queued to it
        self.win, self.dialog = win, dialog

    @Slot(int, int, int)
    def show(self, job_id: int, done: int, total: int) -> None:
        if self.win.jobs.is_current("check", job_id):
            self.dialog.setMaximum(total)
            self.dialog.setValue(done)


def check_on_folder(win: MainWindow) -> None:
    """Ask for a labelled folder and measure the current model on it."""
    model = getattr(win, "model", None)
    if model is None:
        QMessageBox.information(win, "Check model", "Wait for the model to load first.")
        return
    start = str(win.settings.value("models/check_dir", str(Path.home())))
    folder = QFileDialog.getExistingDirectory(win, "Labelled photos (a folder per class, or <label>_*.jpg)", start)
    if not folder:
        return
    win.settings.setValue("models/check_dir", folder)
    dialog = QProgressDialog(f"Checking {short_name(model.name)}…", "Cancel", 0, 0, win)
    dialog.setWindowTitle("Check model")
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(0)
    worker = CheckWorker(model, Path(folder))
    win.check_dialog = dialog

    def finished(result: Any) -> None:
        dialog.close()
        top = (f"top-1 {result.top1_rate:.1%} ({result.top1}/{result.images}), top-5 {result.top5_rate:.1%} "
               f"on {result.images} photos of {result.classes} classes")
        chance = 1 / max(1, len(model.labels))
        wrong = result.images and result.top1_rate < min(max(0.2, 2 * chance), 0.5)
        text = top + ("\n\nThat is near chance: the card's labels (their order), resize/crop, pixel_range, "
                      "mean/std or channel_order are probably wrong (docs/MODELS.md)." if wrong else "")
        if result.unreadable:
            text += f"\n\n{len(result.unreadable)} files could not be read."
        win.last_check = result
        (QMessageBox.warning if wrong else QMessageBox.information)(win, "Check model", text)

    def failed(message: str) -> None:
        dialog.close()
        if "cancelled" not in message:
            QMessageBox.warning(win, "Check model", message)

    relay = _CheckProgress(win, dialog)
    worker.progress.connect(relay.show)
    dialog.canceled.connect(lambda: win.jobs.stop("check"))
    # `failed` says it in a "Check model" box (and nothing on Cancel): not the window's box too.
    win.jobs.start("check", worker, finished, failed, message="", own_errors=True)
