"""The main window: open a photo, pick a target, watch the optimisation, save the PNG.

This module wires the parts together; the parts live in their own modules: the views
(image_views), the live plot (live_plot), the side panel with the settings and the
Defences box (side_panel, defence_box), what a finished run reports (run_report), saving
(save_flow), background jobs (jobs), actions and menus (menus), what is remembered
between sessions (window_state), About and Preferences (dialogs).
"""

from __future__ import annotations

import html
import logging
import math
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QMainWindow,
    QMessageBox,
)

from ..core.attacks import AttackResult, StepRecord, strategy_of
from ..core.device import describe_device
from ..core.errors import GuiappError
from ..core.imageio import IMAGE_SUFFIXES, LoadedImage, load_image
from ..core.models import DEFAULT_MODEL, Classifier, load_model
from ..core.pipeline import AttackRun, plan_attack
from ..core.predict import Prediction, predict_image
from ..core.threads import apply_threads
from . import dialogs, menus, save_flow, window_layout, window_state
from .jobs import Jobs
from .run_report import RunReport
from .workers import AttackWorker, stop_all

log = logging.getLogger(__name__)

IMAGE_FILTER = "Images (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)) + ");;All files (*)"
# Everything that belongs to one image (and its last run): dropped when another opens.
PER_IMAGE_JOBS = ("predict", "attack", "result", "judges", "defence", "save")


class MainWindow(QMainWindow):
    # Emitted when a job the tests (or users of the window API) wait for ends.
    image_ready = Signal()
    attack_finished = Signal(object)  # AttackResult
    saved = Signal(str)
    model_ready = Signal()
    error_shown = Signal(str)
    defence_done = Signal(bool)  # did the target survive
    judges_done = Signal(object)  # list of (model name, top-1 name, confidence, target hit)

    def __init__(self, settings: QSettings | None = None, device: str | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings("guiapp", "guiapp")
        apply_threads(dialogs.threads(self.settings))
        self.device_request = device
        self.model: Classifier | None = None
        self.image: LoadedImage | None = None
        self.result: AttackResult | None = None
        self.run: AttackRun | None = None  # the finished run (its plan) the result came from
        self._run_label = ""  # the running attack's mode (and surrogates), for the live line
        self._run_started = 0.0
        self._steps_seen = 0
        # What reading the image changed (first frame only, 16 bits reduced...): shown in the
        # status bar whenever no busy message covers it, until another image opens.
        self._image_note = ""
        self.jobs = Jobs(self)
        self.jobs.busy_changed.connect(self._show_busy)
        self.jobs.failed.connect(self._job_failed)
        self.setWindowTitle("guiapp — targeted adversarial noise")
        self.setAcceptDrops(True)
        self._build_ui()
        window_state.restore(self)
        self._refresh_recent()
        self._elapsed_timer = QTimer(self)
        self._elapsed_timer.timeout.connect(self._update_rate)
        self.load_model(self.model_combo.currentData() or DEFAULT_MODEL)

    # ---------------------------------------------------------------- construction
    def _build_ui(self) -> None:
        menus.build(self)
        window_layout.build(self)
        self.start_button.clicked.connect(self.start_attack)
        self.stop_button.clicked.connect(self.stop_attack)
        self.model_combo.activated.connect(lambda _: self.load_model(self.model_combo.currentData()))
        self.defences.button.clicked.connect(self.apply_defence)
        self.defences.done.connect(self.defence_done)
        self.report = RunReport(self.jobs, self.panel, self.predictions)
        self.report.measured.connect(self.attack_finished)
        self.report.judged.connect(self.judges_done)
        self._set_running(False)

    # ---------------------------------------------------------------- settings
    def recent_files(self) -> list[str]:
        return window_state.recent_files(self.settings)

    def _remember(self, path: Path) -> None:
        window_state.remember(self.settings, path)
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.recent_files():
            self.recent_menu.addAction(p, lambda p=p: self.open_image(p))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    # ---------------------------------------------------------------- messages
    def _show_busy(self, busy: bool, message: str) -> None:
        self.busy.setVisible(busy)
        if busy:
            self.statusBar().showMessage(message)
        elif self._image_note:
            self.statusBar().showMessage(self._image_note)
        else:
            self.statusBar().clearMessage()

    def _job_failed(self, kind: str, message: str) -> None:
        self.show_error(message)

    def show_error(self, message: str) -> None:
        self.error_shown.emit(message)
        first, _, rest = message.partition("\n\n")
        box = QMessageBox(QMessageBox.Warning, "guiapp", first, parent=self)
        if rest and "Traceback" in rest:
            box.setDetailedText(rest)  # a bug: the traceback, folded away
        elif rest:
            box.setInformativeText(rest)
        box.open()  # non-blocking: tests and users can keep going

    def show_about(self) -> QMessageBox:
        return dialogs.show_about(self, self.model)

    def open_preferences(self) -> dialogs.PreferencesDialog:
        dialog = dialogs.PreferencesDialog(self.settings, self)
        dialog.open()
        return dialog

    # ---------------------------------------------------------------- model
    def load_model(self, name: str) -> None:
        self.jobs.drop("attack", "result", "judges")
        self.defences.reset()  # what the old model saw after a defence, or its running defence
        self.model = None
        self.status_model.setText(f"loading {name}…")
        self._set_running(False)
        self.jobs.run("model", lambda: load_model(name, self.device_request), self._model_loaded,
                      self._model_failed, f"Loading model {name}…")

    def _model_loaded(self, model: Classifier) -> None:
        self.model = model
        self.status_model.setText(f"model: {model.name}")
        self.status_device.setText(f"device: {describe_device(model.device)}")
        self.predictions.set_model_name(model.name)
        self._set_running(False)
        if self.image is not None:
            self._predict_original()
            if self.run is not None and not self.run.result.cancelled:
                # What the new model sees in the last result.
                self.report.show(model, self.run, announce=False)
        self.model_ready.emit()

    def _model_failed(self, message: str) -> None:
        self.status_model.setText("no model (see the message)")

    # ---------------------------------------------------------------- image
    def _open_dialog(self) -> None:
        start = self.settings.value("last_dir", str(Path.home()))
        path, _ = QFileDialog.getOpenFileName(self, "Open image", start, IMAGE_FILTER)
        if path:
            self.open_image(path)

    def open_image(self, path: str | Path) -> None:
        path = Path(path)
        self.settings.setValue("last_dir", str(path.parent))
        limit = dialogs.max_pixels(self.settings)
        self.jobs.run("image", lambda: load_image(path, max_pixels=limit),
                      lambda loaded: self._image_loaded(path, loaded), message=f"Opening {path.name}…")

    def _image_loaded(self, path: Path, loaded: LoadedImage) -> None:
        self.jobs.drop(*PER_IMAGE_JOBS)  # they belong to the previous image
        self.image, self.result, self.run = loaded, None, None
        self._elapsed_timer.stop()
        self._remember(path)
        w, h = loaded.size
        alpha = ", alpha kept" if loaded.alpha is not None else ""
        self.views.set_original(loaded.rgb, f"{path.name} — {w}x{h}, {loaded.source_mode}{alpha}")
        self.views.caption.setToolTip(str(path) + "".join(f"\n{note}" for note in loaded.notes))
        self._image_note = "; ".join(loaded.notes)
        if not self.busy.isVisible():  # else it shows when the busy message goes
            self._show_busy(False, "")
        self.setWindowTitle(f"guiapp — {path.name}")
        self.plot.clear()
        self.pred_original.clearContents()
        self.pred_adversarial.clearContents()
        self.panel.clear_outcome()
        self.defences.reset()
        self.status_rate.setText("")
        self._predict_original()
        self._set_running(False)

    def _predict_original(self) -> None:
        model, image = self.model, self.image
        if model is None or image is None:
            return  # the other one's arrival calls this again

        def done(preds: list[Prediction]) -> None:
            self.pred_original.show_predictions(preds)
            self.image_ready.emit()

        self.jobs.run("predict", lambda: predict_image(model, image), done, message="Classifying…")

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            self.open_image(files[0])

    # ---------------------------------------------------------------- attack
    def start_attack(self) -> None:
        if self.model is None:
            self.show_error("The model is still loading; Start is enabled once it is ready.")
            return
        if self.image is None:
            self.show_error("Open an image first (File > Open, or drop one on the window).")
            return
        try:
            target = self.target_combo.target_index()
            config = self.form.config()
        except GuiappError as exc:
            self.show_error(str(exc))
            return
        model, image, limit = self.model, self.image, dialogs.max_pixels(self.settings)

        def make_run() -> AttackRun:
            # The pipeline: the memory check (a MemoryLimitError says where the app keeps the
            # pixel limit), the crafting models, the clean image's class, the centroids.
            return AttackRun(plan_attack(image, target, config=config, model=model, max_pixels=limit))

        worker = AttackWorker(make_run)
        worker.step.connect(self._on_step)
        worker.preview.connect(self._on_preview)
        self.jobs.drop("result", "judges", "save")
        self.result, self.run = None, None
        self.predictions.set_model_name(model.name)
        self.jobs.start("attack", worker, self._on_attack_done, self._on_attack_failed)
        self.plot.clear()
        self.pred_adversarial.clearContents()
        self.panel.clear_outcome()
        self.defences.reset()
        # Which attack is running, in every live line: the mode and the models it crafts on
        # (in transfer mode not the model of the predictions table).
        strategy = strategy_of(config)
        self._run_label = f"{config.mode} on {', '.join(strategy.crafter_names(config, model.name))}"
        self.panel.show_line(self.live_label, html.escape(f"{self._run_label}: starting…"))
        self.views.set_adversarial_title("Adversarial (optimising…)")
        self._steps_seen = 0
        self._run_started = time.perf_counter()
        self._elapsed_timer.start(500)
        self._set_running(True)

    def stop_attack(self) -> None:
        if self.jobs.running("attack"):
            self.jobs.stop("attack")
            self.views.set_adversarial_title("Adversarial (stopping…)")

    def _on_step(self, job: int, record: StepRecord) -> None:
        if not self.jobs.is_current("attack", job):
            return  # a superseded run's late signal
        self._steps_seen = record.step
        self.plot.add(record)
        best = "" if math.isnan(record.best_psnr) else f" · best {record.best_psnr:.1f} dB"
        self.panel.show_line(
            self.live_label,
            f"live ({html.escape(self._run_label)}): step <b>{record.step}</b> ({record.phase}) · "
            f"target {record.target_conf:.1%} · "
            f"L-inf {record.linf:.0f}/255 · PSNR {record.psnr:.1f} dB{best}",
        )

    def _on_preview(self, job: int, image: np.ndarray) -> None:
        if self.jobs.is_current("attack", job) and image is not None:
            self.views.set_adversarial(image, "Adversarial (optimising…)")

    def _on_attack_failed(self, message: str) -> None:
        self._elapsed_timer.stop()
        self._set_running(False)
        self.views.set_adversarial_title("Adversarial (failed)")
        self.panel.show_line(self.live_label, "")  # "starting…" would stay under a run that never started

    def _on_attack_done(self, run: AttackRun) -> None:
        self._elapsed_timer.stop()
        self._update_rate()
        result = run.result
        self.result, self.run = result, run
        self._set_running(False)
        # The last step's live numbers are not the result's (that is the best step): the
        # result line and the table take over.
        self.panel.show_line(self.live_label, "")
        if result.cancelled:
            if result.steps > 0:
                self.views.set_adversarial(result.adversarial, f"Adversarial (stopped at step {result.steps})")
            else:
                self.views.clear_adversarial()
            self.panel.show_line(self.result_label, f"Stopped after {result.steps} steps; nothing to save.")
            self.attack_finished.emit(result)
            return
        self.views.set_adversarial(result.adversarial, "Adversarial")
        assert self.model is not None
        self.report.show(self.model, run)
        self.report.ask_judges(self.form.judges.checked(), run)

    def _update_rate(self) -> None:
        elapsed = time.perf_counter() - self._run_started
        if self._steps_seen and elapsed > 0:
            self.status_rate.setText(f"{self._steps_seen / elapsed:.1f} steps/s · {elapsed:.1f} s")

    def _set_running(self, running: bool) -> None:
        ready = self.model is not None and self.image is not None
        for w in (self.act_start, self.start_button):
            w.setEnabled(not running and ready)
        for w in (self.act_stop, self.stop_button):
            w.setEnabled(running)
        self.act_save.setEnabled(not running and self.result is not None and not self.result.cancelled)
        self.model_combo.setEnabled(not running)
        self.form.mode.setEnabled(not running)
        self.defences.button.setEnabled(not running and ready)

    # ---------------------------------------------------------------- defences
    def apply_defence(self) -> None:
        """Purify the current adversarial image (or the original, before any attack);
        while a defence runs, the same button cancels it."""
        if self.defences.running:
            self.defences.cancel()
            return
        if self.model is None or self.image is None:
            return
        result = self.result if self.result is not None and not self.result.cancelled else None
        if result is not None:
            self.defences.apply(self.model, result.adversarial, result.target)
        else:
            self.defences.apply(self.model, self.image.rgb, None)

    # ---------------------------------------------------------------- save
    def _save_dialog(self) -> None:
        save_flow.save_with_dialog(self)

    def save_result(self, path: str | Path) -> None:
        """Save atomically (never over the input), then show the re-check of the file."""
        save_flow.save(self, Path(path))

    # ---------------------------------------------------------------- batch
    def open_batch_dialog(self) -> None:
        from .batch_dialog import BatchDialog

        if self.model is None:
            self.show_error("The model is still loading; Batch opens once it is ready.")
            return
        try:
            config = self.form.config()
        except GuiappError as exc:
            self.show_error(str(exc))
            return
        dialog = BatchDialog(self.model, config, self.settings, self)
        typed = self.target_combo.currentText().strip()
        if typed:  # typed or picked: the dialog starts from the window's target
            try:
                dialog.target_combo.set_target(self.target_combo.target_index())
            except GuiappError:
                dialog.target_combo.setEditText(typed)  # as typed; its Start says what is wrong
        dialog.open()
        self._batch_dialog = dialog

    # ---------------------------------------------------------------- closing
    def closeEvent(self, event: QCloseEvent) -> None:
        # Nothing here may raise: an exception escaping a Qt virtual override crashes
        # PySide 6.12 while it reports it (seen in CI), so failures are logged instead.
        try:
            window_state.save(self)
        except Exception:  # noqa: BLE001 - losing settings must not stop the window closing
            log.exception("could not save settings")
        try:
            self.jobs.drop_all()  # anything still arriving is stale
            if not stop_all(timeout_ms=5000):
                log.warning("background work did not stop within 5 s")
        except Exception:  # noqa: BLE001
            log.exception("stopping background work failed")
        event.accept()
