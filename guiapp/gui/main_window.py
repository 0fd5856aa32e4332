"""The main window: open a photo, pick a target, watch the optimisation, save the PNG."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStyle,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from ..core.api import (
    Prediction,
    default_output_path,
    output_metadata,
    predict_image,
    resolve_centroids,
    save_and_verify,
)
from ..core.attack import AttackResult, StepRecord, meets_target
from ..core.defences import DEFENCES, UNAVAILABLE
from ..core.device import describe_device
from ..core.errors import GuiappError
from ..core.imageio import IMAGE_SUFFIXES, LoadedImage, check_output_path, load_image
from ..core.labels import imagenet_labels
from ..core.models import DEFAULT_MODEL, Classifier, available_models, load_model, model_status
from .image_views import ImageTriptych
from .live_plot import LivePlot
from .widgets import LabelCombo, PredictionTable, SettingsForm
from .workers import AttackWorker, DefenceWorker, FunctionWorker, start_worker, stop_all

log = logging.getLogger(__name__)

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "resources" / "samples"
MAX_RECENT = 8
IMAGE_FILTER = "Images (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)) + ");;All files (*)"


class MainWindow(QMainWindow):
    # Emitted when a job the tests (or users of the window API) wait for ends.
    image_ready = Signal()
    attack_finished = Signal(object)  # AttackResult
    saved = Signal(str)
    model_ready = Signal()
    error_shown = Signal(str)
    defence_done = Signal(bool)  # did the target survive

    def __init__(self, settings: QSettings | None = None, device: str | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings("guiapp", "guiapp")
        self.device_request = device
        self.model: Classifier | None = None
        self.image: LoadedImage | None = None
        self.result: AttackResult | None = None
        self.result_target: int | None = None
        self._job = 0  # id of the job whose results we still want
        self._callbacks: dict[int, object] = {}  # job id -> what to do with its result
        self._attack_worker: AttackWorker | None = None
        self._run_started = 0.0
        self._steps_seen = 0
        self.setWindowTitle("guiapp — targeted adversarial noise")
        self.setAcceptDrops(True)
        self._build_ui()
        self._restore_settings()
        self._elapsed_timer = QTimer(self)
        self._elapsed_timer.timeout.connect(self._update_rate)
        self.load_model(self.model_combo.currentData() or DEFAULT_MODEL)

    # ---------------------------------------------------------------- construction
    def _build_ui(self) -> None:
        style = self.style()
        self.act_open = QAction(style.standardIcon(QStyle.SP_DialogOpenButton), "&Open…", self)
        self.act_open.setShortcut(QKeySequence.Open)
        self.act_open.triggered.connect(self._open_dialog)
        self.act_start = QAction(style.standardIcon(QStyle.SP_MediaPlay), "&Start", self)
        self.act_start.setShortcut("Ctrl+R")
        self.act_start.setToolTip("Start the optimisation (Ctrl+R)")
        self.act_start.triggered.connect(self.start_attack)
        self.act_stop = QAction(style.standardIcon(QStyle.SP_MediaStop), "S&top", self)
        self.act_stop.setShortcut("Esc")
        self.act_stop.triggered.connect(self.stop_attack)
        self.act_save = QAction(style.standardIcon(QStyle.SP_DialogSaveButton), "&Save PNG…", self)
        self.act_save.setShortcut(QKeySequence.Save)
        self.act_save.triggered.connect(self._save_dialog)
        self.act_batch = QAction(style.standardIcon(QStyle.SP_DirIcon), "&Batch…", self)
        self.act_batch.setToolTip("Process a whole folder")
        self.act_batch.triggered.connect(self.open_batch_dialog)

        menu = self.menuBar().addMenu("&File")
        menu.addAction(self.act_open)
        self.samples_menu = menu.addMenu("Open &sample")
        for p in sorted(SAMPLES_DIR.glob("*.jpg")):
            self.samples_menu.addAction(p.stem.replace("_", " "), lambda p=p: self.open_image(p))
        self.recent_menu = menu.addMenu("Open &recent")
        menu.addAction(self.act_save)
        menu.addAction(self.act_batch)
        menu.addSeparator()
        menu.addAction("&Quit", QKeySequence.Quit, self.close)
        run_menu = self.menuBar().addMenu("&Run")
        run_menu.addActions([self.act_start, self.act_stop])

        tools = QToolBar("Main")
        tools.setObjectName("main_toolbar")
        tools.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        tools.addActions([self.act_open, self.act_start, self.act_stop, self.act_save, self.act_batch])
        self.addToolBar(tools)

        # Centre: images over plots.
        self.views = ImageTriptych()
        self.plot = LivePlot()
        self.split = QSplitter(Qt.Vertical)
        self.split.addWidget(self.views)
        self.split.addWidget(self.plot)
        self.split.setStretchFactor(0, 3)
        self.split.setStretchFactor(1, 2)

        # Right: what to do, then what happened.
        side = QWidget()
        side.setMinimumWidth(320)
        col = QVBoxLayout(side)
        target_box = QGroupBox("Target")
        tl = QVBoxLayout(target_box)
        self.target_combo = LabelCombo(imagenet_labels())
        tl.addWidget(self.target_combo)
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("The classifier to fool. Greyed-out models lack weights here (hover for why).")
        for name in available_models():
            ok, why = model_status(name)
            self.model_combo.addItem(name if ok else f"{name} (unavailable)", name)
            i = self.model_combo.count() - 1
            self.model_combo.setItemData(i, why, Qt.ToolTipRole)
            if not ok:
                self.model_combo.model().item(i).setEnabled(False)
        self.model_combo.activated.connect(lambda _: self.load_model(self.model_combo.currentData()))
        tl.addWidget(QLabel("Model"))
        tl.addWidget(self.model_combo)
        col.addWidget(target_box)

        settings_box = QGroupBox("Settings")
        sl = QVBoxLayout(settings_box)
        self.form = SettingsForm()
        sl.addWidget(self.form)
        col.addWidget(settings_box)

        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start_attack)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop_attack)
        col.addWidget(self.start_button)
        col.addWidget(self.stop_button)

        self.live_label = QLabel("–")
        self.live_label.setTextFormat(Qt.RichText)
        self.live_label.setWordWrap(True)
        col.addWidget(self.live_label)

        pred_box = QGroupBox("Predictions")
        pl = QVBoxLayout(pred_box)
        pl.addWidget(QLabel("Original"))
        self.pred_original = PredictionTable()
        pl.addWidget(self.pred_original)
        pl.addWidget(QLabel("Adversarial"))
        self.pred_adversarial = PredictionTable()
        pl.addWidget(self.pred_adversarial)
        col.addWidget(pred_box)
        self.result_label = QLabel("")
        self.result_label.setWordWrap(True)
        self.result_label.setTextFormat(Qt.RichText)
        col.addWidget(self.result_label)
        col.addWidget(self._build_defence_box())
        col.addStretch(1)

        # Scrollable, so the window fits a 1280x800 screen whatever the panel holds.
        side_scroll = QScrollArea()
        side_scroll.setWidget(side)
        side_scroll.setWidgetResizable(True)
        side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        side_scroll.setFrameShape(QFrame.NoFrame)
        side_scroll.setMinimumWidth(side.minimumWidth() + 16)
        self.hsplit = QSplitter(Qt.Horizontal)
        self.hsplit.addWidget(self.split)
        self.hsplit.addWidget(side_scroll)
        self.hsplit.setStretchFactor(0, 1)
        self.hsplit.setStretchFactor(1, 0)
        self.hsplit.setSizes([1000, 360])
        self.setCentralWidget(self.hsplit)

        self.status_device = QLabel()
        self.status_model = QLabel()
        self.status_rate = QLabel()
        self.busy = QProgressBar()
        self.busy.setMaximumWidth(140)
        self.busy.setRange(0, 0)
        self.busy.hide()
        for w in (self.status_device, self.status_model, self.status_rate):
            self.statusBar().addPermanentWidget(w)
        self.statusBar().addPermanentWidget(self.busy)
        self._set_running(False)

    def _build_defence_box(self) -> QGroupBox:
        box = QGroupBox("Defences")
        box.setToolTip("Purify the adversarial image as a defender would, and see if the target survives.\n"
                       "Defences act on the 224-px image the model sees.")
        lay = QVBoxLayout(box)
        row = QHBoxLayout()
        self.defence_combo = QComboBox()
        for name, d in DEFENCES.items():
            self.defence_combo.addItem(d.label, name)
            self.defence_combo.setItemData(self.defence_combo.count() - 1, d.description, Qt.ToolTipRole)
        for name, why in UNAVAILABLE.items():
            self.defence_combo.addItem(f"{name} (unavailable)", name)
            i = self.defence_combo.count() - 1
            self.defence_combo.setItemData(i, why, Qt.ToolTipRole)
            self.defence_combo.model().item(i).setEnabled(False)
        self.defence_button = QPushButton("Apply")
        self.defence_button.clicked.connect(self.apply_defence)
        row.addWidget(self.defence_combo, 1)
        row.addWidget(self.defence_button)
        lay.addLayout(row)
        self.defence_image = QLabel()
        self.defence_image.setAlignment(Qt.AlignCenter)
        self.defence_image.setMinimumHeight(90)
        lay.addWidget(self.defence_image)
        self.defence_label = QLabel("Run an attack, then apply a defence to it.")
        self.defence_label.setWordWrap(True)
        self.defence_label.setTextFormat(Qt.RichText)
        lay.addWidget(self.defence_label)
        return box

    def apply_defence(self) -> None:
        """Purify the current adversarial image (or the original, before any attack)."""
        if self.model is None or self.image is None:
            return
        result = self.result if self.result is not None and not self.result.cancelled else None
        image = result.adversarial if result is not None else self.image.rgb
        target = result.target if result is not None else -1
        defence = DEFENCES[self.defence_combo.currentData()]
        job = self._next_job()
        worker = DefenceWorker(job, self.model, image, defence, target)
        worker.progress.connect(self._on_defence_progress)
        worker.done.connect(self._on_defence_done)
        worker.failed.connect(self._job_failed)
        self.defence_button.setEnabled(False)
        self.defence_label.setText(f"applying {defence.label}…")
        self.busy.show()
        start_worker(worker)

    def _on_defence_progress(self, job: int, i: int, total: int) -> None:
        if job == self._job:
            self.defence_label.setText(f"Deep Image Prior: iteration {i}/{total}…")

    def _on_defence_done(self, job: int, outcome) -> None:
        self.busy.hide()
        self.defence_button.setEnabled(True)
        if job != self._job:
            return
        purified, preds, survived = outcome
        qimg = QImage(purified.data, purified.shape[1], purified.shape[0], purified.strides[0], QImage.Format_RGB888)
        self.defence_image.setPixmap(QPixmap.fromImage(qimg.copy()).scaledToHeight(160, Qt.SmoothTransformation))
        top = ", ".join(f"{p.name} {p.confidence:.0%}" for p in preds[:3])
        if self.result is None or self.result.cancelled:
            verdict = ""
        elif survived:
            verdict = "<span style='color:#188038'><b>target survived</b></span> · "
        else:
            verdict = "<span style='color:#d93025'><b>target removed</b></span> · "
        self.defence_label.setText(f"{verdict}{top}")
        self.defence_done.emit(survived)

    # ---------------------------------------------------------------- settings
    def _restore_settings(self) -> None:
        s = self.settings
        if s.value("geometry"):
            self.restoreGeometry(s.value("geometry"))
        else:
            self.resize(1400, 880)
        if s.value("state"):
            self.restoreState(s.value("state"))
        if s.value("split"):
            self.split.restoreState(s.value("split"))
        if s.value("hsplit"):
            self.hsplit.restoreState(s.value("hsplit"))
        for key, box in self.form.spinboxes().items():
            if s.value(f"attack/{key}") is not None:
                box.setValue(float(s.value(f"attack/{key}")))
        self.form.robust.setChecked(s.value("attack/robust", "false") in (True, "true"))
        model = s.value("model", DEFAULT_MODEL)
        i = self.model_combo.findData(model)
        self.model_combo.setCurrentIndex(i if i >= 0 and model_status(model)[0] else self.model_combo.findData(DEFAULT_MODEL))
        if s.value("target") is not None:
            self.target_combo.set_target(int(s.value("target")))
        if s.value("diff_gain") is not None:
            self.views.factor.setValue(int(s.value("diff_gain")))
        self._refresh_recent()

    def _save_settings(self) -> None:
        s = self.settings
        s.setValue("geometry", self.saveGeometry())
        s.setValue("state", self.saveState())
        s.setValue("split", self.split.saveState())
        s.setValue("hsplit", self.hsplit.saveState())
        for key, box in self.form.spinboxes().items():
            s.setValue(f"attack/{key}", box.value())
        s.setValue("attack/robust", self.form.robust.isChecked())
        s.setValue("model", self.model_combo.currentData())
        if self.target_combo.currentIndex() >= 0:
            s.setValue("target", int(self.target_combo.currentData()))
        s.setValue("diff_gain", self.views.factor.value())
        s.sync()

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _remember(self, path: Path) -> None:
        recent = [str(path)] + [p for p in self.recent_files() if p != str(path)]
        self.settings.setValue("recent", recent[:MAX_RECENT])
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.recent_files():
            self.recent_menu.addAction(p, lambda p=p: self.open_image(p))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    # ---------------------------------------------------------------- jobs
    def _next_job(self) -> int:
        self._job += 1
        return self._job

    def _run(self, fn, on_done, busy_text: str) -> None:
        """Run fn() off the GUI thread; on_done(result) only if no newer job replaced it."""
        job = self._next_job()
        worker = FunctionWorker(job, fn)
        self._callbacks[job] = on_done
        # Bound methods of this window, not lambdas: Qt then queues the call to the GUI
        # thread. A lambda has no receiver and would run in the worker thread.
        worker.done.connect(self._finish_job)
        worker.failed.connect(self._job_failed)
        self.busy.show()
        self.statusBar().showMessage(busy_text)
        start_worker(worker)

    def _finish_job(self, job: int, result) -> None:
        self.busy.hide()
        self.statusBar().clearMessage()
        on_done = self._callbacks.pop(job, None)
        if job == self._job and on_done is not None:
            on_done(result)

    def _job_failed(self, job: int, message: str) -> None:
        self._callbacks.pop(job, None)
        self.busy.hide()
        self.statusBar().clearMessage()
        if job == self._job:
            self._attack_worker = None
            self._set_running(False)
            self.show_error(message)

    def show_error(self, message: str) -> None:
        self.error_shown.emit(message)
        box = QMessageBox(QMessageBox.Warning, "guiapp", message.split("\n\n")[0], parent=self)
        if "\n\n" in message:
            box.setDetailedText(message.split("\n\n", 1)[1])
        box.open()  # non-blocking: tests and users can keep going

    # ---------------------------------------------------------------- model
    def load_model(self, name: str) -> None:
        if self._attack_worker is not None:
            self.stop_attack()
        self.status_model.setText(f"loading {name}…")
        self.act_start.setEnabled(False)
        self.start_button.setEnabled(False)

        def done(model: Classifier) -> None:
            self.model = model
            self.status_model.setText(f"model: {model.name}")
            self.status_device.setText(f"device: {describe_device(model.device)}")
            self._set_running(False)
            if self.image is not None:
                self._predict_original()
            self.model_ready.emit()

        self._run(lambda: load_model(name, self.device_request), done, f"Loading model {name}…")

    # ---------------------------------------------------------------- image
    def _open_dialog(self) -> None:
        start = self.settings.value("last_dir", str(Path.home()))
        path, _ = QFileDialog.getOpenFileName(self, "Open image", start, IMAGE_FILTER)
        if path:
            self.open_image(path)

    def open_image(self, path: str | Path) -> None:
        path = Path(path)
        self.stop_attack()
        self.settings.setValue("last_dir", str(path.parent))

        def done(loaded: LoadedImage) -> None:
            self.image, self.result = loaded, None
            self._remember(path)
            w, h = loaded.size
            alpha = ", alpha kept" if loaded.alpha is not None else ""
            self.views.set_original(loaded.rgb, f"{path.name} — {w}x{h}, {loaded.source_mode}{alpha}")
            self.setWindowTitle(f"guiapp — {path.name}")
            self.plot.clear()
            self.pred_adversarial.clearContents()
            self.result_label.setText("")
            self._predict_original()
            self._set_running(False)

        self._run(lambda: load_image(path), done, f"Opening {path.name}…")

    def _predict_original(self) -> None:
        model, image = self.model, self.image
        if model is None or image is None:
            return

        def done(preds: list[Prediction]) -> None:
            self.pred_original.show_predictions(preds)
            self.image_ready.emit()

        self._run(lambda: predict_image(model, image), done, "Classifying…")

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
            self.show_error("The model is still loading.")
            return
        if self.image is None:
            self.show_error("Open an image first (File > Open, or drop one on the window).")
            return
        try:
            target = self.target_combo.target_index()
            config = self.form.config()
            notes: list[str] = []
            centroids = resolve_centroids(self.model, "auto", notes) if config.centroid_weight > 0 else None
        except (GuiappError, ValueError) as exc:
            self.show_error(str(exc))
            return
        for note in notes:
            self.statusBar().showMessage(note, 8000)
        self.stop_attack()  # a new job replaces the old one
        job = self._next_job()
        worker = AttackWorker(job, self.model, self.image.rgb, target, config, centroids)
        worker.step.connect(self._on_step)
        worker.preview.connect(self._on_preview)
        worker.done.connect(self._on_attack_done)
        worker.failed.connect(self._job_failed)
        self._attack_worker = worker
        self.result, self.result_target = None, target
        self.plot.clear()
        self.pred_adversarial.clearContents()
        self.result_label.setText("")
        self._steps_seen = 0
        self._run_started = time.perf_counter()
        self._elapsed_timer.start(500)
        self._set_running(True)
        start_worker(worker)

    def stop_attack(self) -> None:
        if self._attack_worker is not None:
            self._attack_worker.cancel()

    def _on_step(self, job: int, record: StepRecord) -> None:
        if job != self._job:
            return  # a stale job's late signal
        self._steps_seen = record.step
        self.plot.add(record)
        best = "" if math.isnan(record.best_psnr) else f" · best {record.best_psnr:.1f} dB"
        self.live_label.setText(
            f"step <b>{record.step}</b> ({record.phase}) · target {record.target_conf:.1%} · "
            f"L-inf {record.linf:.0f}/255 · PSNR {record.psnr:.1f} dB{best}"
        )

    def _on_preview(self, job: int, image: np.ndarray) -> None:
        if job == self._job and image is not None:
            self.views.set_adversarial(image, "Adversarial (optimising…)")

    def _on_attack_done(self, job: int, result: AttackResult) -> None:
        if job != self._job:
            return
        self._attack_worker = None
        self._elapsed_timer.stop()
        self._update_rate()
        self.result = result
        self._set_running(False)
        if result.cancelled:
            self.result_label.setText("Stopped.")
            self.attack_finished.emit(result)
            return
        self.views.set_adversarial(result.adversarial, "Adversarial")
        verdict = (
            f"<span style='color:#188038'><b>Target reached</b></span> in {result.steps} steps"
            if result.success
            else f"<span style='color:#d93025'><b>Target not reached</b></span> in {result.steps} steps — "
            "raise the budget or the step limit"
        )
        self.result_label.setText(verdict)
        model, image = self.model, result.adversarial

        def done(preds: list[Prediction]) -> None:
            self.pred_adversarial.show_predictions(preds, result.target)
            self.attack_finished.emit(result)

        self._run(lambda: predict_image(model, image), done, "Classifying the result…")

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
        self.defence_button.setEnabled(not running and ready)

    # ---------------------------------------------------------------- save
    def _save_dialog(self) -> None:
        if self.result is None or self.image is None or self.image.path is None:
            return
        suggestion = default_output_path(self.image.path, imagenet_labels()[self.result.target].name)
        path, _ = QFileDialog.getSaveFileName(self, "Save adversarial PNG", str(suggestion), "PNG (*.png)")
        if path:
            self.save_result(path if path.lower().endswith(".png") else path + ".png")

    def save_result(self, path: str | Path) -> None:
        """Save atomically (never over the input), then show the re-check of the file."""
        if self.result is None or self.image is None or self.model is None:
            return
        result, image, model = self.result, self.image, self.model
        try:
            check_output_path(path, [image.path] if image.path else [])
        except GuiappError as exc:
            self.show_error(str(exc))
            return
        config = self.form.config()
        meta = output_metadata(model, result.target, config, result.steps, image.path.name if image.path else "")

        def done(saved_and_probs) -> None:
            saved, probs = saved_and_probs
            top = int(probs.argmax())
            ok = meets_target(probs, result.target, config.confidence)
            colour = "#188038" if ok else "#d93025"
            self.result_label.setText(
                f"Saved <b>{Path(saved).name}</b>. Re-read from disk, it is classified as "
                f"<span style='color:{colour}'><b>{model.labels[top].name}</b></span> ({float(probs.max()):.1%})."
            )
            self.saved.emit(str(saved))

        self._run(
            lambda: save_and_verify(model, path, result.adversarial, image.alpha, meta,
                                    protect=[image.path] if image.path else []),
            done, "Saving…",
        )

    # ---------------------------------------------------------------- batch
    def open_batch_dialog(self) -> None:
        from .batch_dialog import BatchDialog

        if self.model is None:
            self.show_error("The model is still loading.")
            return
        dialog = BatchDialog(self.model, self.form.config(), self.settings, self)
        if self.target_combo.currentIndex() >= 0:
            dialog.target_combo.set_target(int(self.target_combo.currentData()))
        dialog.open()
        self._batch_dialog = dialog

    # ---------------------------------------------------------------- closing
    def closeEvent(self, event: QCloseEvent) -> None:
        # Nothing here may raise: an exception escaping a Qt virtual override crashes
        # PySide 6.12 while it reports it (seen in CI), so failures are logged instead.
        try:
            self._save_settings()
        except Exception:  # noqa: BLE001 - losing settings must not stop the window closing
            log.exception("could not save settings")
        self._job += 1  # anything still arriving is stale
        try:
            if not stop_all(timeout_ms=5000):
                log.warning("background work did not stop within 5 s")
        except Exception:  # noqa: BLE001
            log.exception("stopping background work failed")
        event.accept()
