"""The main window: open a photo, pick a target, watch the optimisation, save the PNG.

It shows itself before the engine is imported (startup.py): the menus, the status bar and
a start-up panel that names each stage; the studio (studio.py: views, tabs, side panel,
the attack, the report, the insights) is built once torch and the engine are in. This
module wires the parts together and imports nothing heavy at import time; the parts live
in their own modules: the views (image_views), the live plot (live_plot), the side panel
and its settings form (side_panel, settings_form with option_fields, target_field), the
attack's lifecycle (attack_control), what a finished run reports (run_report), the runs of every image
(session, drawn by history, kept on disk by kept_runs), the noise and saliency tabs
(insights), the Defences tab (defence_box), saving (save_flow), exporting (export),
background jobs (jobs), menus (menus), what is enabled when (action_state), closing
(window_close), what is remembered (window_state), dialogs (dialogs, help_dialog), and the
parts it is made of (window_parts).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings, QSize, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QShowEvent
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QProgressBar

from . import action_state, menus, window_close, window_state
from .jobs import Jobs
from .session import Session
from .startup import PREPARING, ImportWorker, StartupPanel, import_engine, trace
from .window_parts import WindowParts

if TYPE_CHECKING:
    from ..core.imageio import LoadedImage
    from ..core.models import Classifier
    from .subject import Subject

log = logging.getLogger(__name__)
FRAME_CHECKS_MS = (0, 250, 1000)  # after the first show: when to make sure the frame fits the screen

class MainWindow(QMainWindow, WindowParts):
    # Emitted when a job the tests (or users of the window API) wait for ends.
    image_ready = Signal()
    attack_finished = Signal(object)  # AttackResult
    saved = Signal(str)
    model_ready = Signal()
    error_shown = Signal(str)
    defence_done = Signal(bool)  # did the target survive
    judges_done = Signal(object)  # list of (model name, top-1 name, confidence, target hit)
    studio_ready = Signal()  # the engine is imported and the studio built
    report_written = Signal(str)

    def __init__(self, settings: QSettings | None = None, device: str | None = None, *,
                 deferred: bool = False) -> None:
        """`deferred`: show first, import the engine in a worker thread (`guiapp`); without
        it the studio is built before the constructor returns (tests, scripts)."""
        super().__init__()
        self.settings = settings or QSettings("guiapp", "guiapp")
        self.device_request = device
        self.model: Classifier | None = None
        self.image: LoadedImage | None = None
        self.session = Session()  # every image's runs and the run shown (Qt-free; panels draw it)
        self.original_preds: list = []
        self.built = False
        self.subject: Subject  # set once the engine is imported
        self._deferred = deferred
        self._pending_image: Path | None = None
        self._shown = False
        self._placed_size = QSize()  # the size it was shown at, or fitted to the screen at
        # What reading the image changed (first frame only, 16 bits reduced...): shown in the
        # status bar whenever no busy message covers it, until another image opens.
        self._image_note = ""
        self.jobs = Jobs(self)
        self.jobs.busy_changed.connect(self._show_busy)
        self.jobs.failed.connect(self._job_failed)
        self.setWindowTitle("guiapp — targeted adversarial noise")
        self.setAcceptDrops(True)
        menus.build(self)
        self.status_device, self.status_model, self.status_rate = QLabel(), QLabel(), QLabel()
        self.busy = QProgressBar()
        self.busy.setMaximumWidth(140)
        self.busy.setRange(0, 0)
        self.busy.hide()
        for w in (self.status_device, self.status_model, self.status_rate, self.busy):
            self.statusBar().addPermanentWidget(w)
        self.startup: StartupPanel | None = StartupPanel()
        self.setCentralWidget(self.startup)
        window_state.restore_geometry(self)
        self._refresh_recent()
        self.set_running(False)
        if not deferred:
            import_engine()
            self._build_studio()

    # ---------------------------------------------------------------- start-up
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._shown:
            self._shown = True
            trace("window-shown")
            # Once the window manager has framed it (X11 tells the frame a little later):
            # the whole window on screen, the status bar included.
            self._placed_size = self.size()
            for delay in FRAME_CHECKS_MS:
                QTimer.singleShot(delay, self, self._fit_to_screen)  # (none once the window is deleted)

    def _fit_to_screen(self) -> None:
        if self.size() == self._placed_size:  # else someone resized it since (a user, a script): theirs
            window_state.fit_to_screen(self)
            self._placed_size = self.size()
            if self._deferred and not self.built:
                QTimer.singleShot(0, self._import_engine)  # after this first paint

    def _import_engine(self) -> None:
        worker = ImportWorker()
        # A bound method of this GUI-thread object: queued here (a lambda would run in the worker).
        worker.stage.connect(self._startup_stage)
        self.jobs.start("startup", worker, lambda _s: self._build_studio(), self._startup_failed)

    def _startup_stage(self, _job: int, text: str) -> None:
        if self.startup is not None:
            self.startup.show_stage(text)

    def _startup_failed(self, message: str) -> None:
        assert self.startup is not None  # the import failed: the studio never replaced it
        self.startup.show_stage("Could not start")
        self.startup.set_detail(message.split("\n\n")[0])

    def _build_studio(self) -> None:
        """The engine is imported: the studio replaces the start-up panel (studio.start)."""
        assert self.startup is not None  # built once: the panel stays until the studio replaces it
        self.startup.show_stage(PREPARING)
        self.startup.repaint()  # now: the imports below hold the GUI thread for a moment
        # On the GUI thread, never in the import worker: pyqtgraph creates Qt types (startup.py).
        from . import studio

        studio.start(self)

    # ---------------------------------------------------------------- settings
    def recent_files(self) -> list[str]:
        return window_state.recent_files(self.settings)

    def _remember(self, path: Path) -> None:
        window_state.remember(self.settings, path)
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.recent_files():
            self.recent_menu.addAction(p, self._opener(p))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    def _opener(self, path: str) -> Callable[[], None]:
        return lambda: self.open_image(path)

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
        # The start-up panel says its own; a run not kept on disk is logged (kept_runs), and
        # the question before quitting then says it would be lost.
        if kind != "startup" and not kind.startswith("keep "):
            self.show_error(message)

    def show_error(self, message: str) -> None:
        self.error_shown.emit(message)
        first, _, rest = message.partition("\n\n")
        box = QMessageBox(QMessageBox.Icon.Warning, "guiapp", first, parent=self)
        if rest and "Traceback" in rest:
            box.setDetailedText(rest)  # a bug: the traceback, folded away
        elif rest:
            box.setInformativeText(rest)
        box.open()  # non-blocking: tests and users can keep going

    def show_about(self) -> QMessageBox:
        from . import dialogs

        return dialogs.show_about(self, self.model)

    def show_how_it_works(self):
        from . import help_dialog

        return help_dialog.show_how_it_works(self)

    def show_shortcuts(self):
        from . import help_dialog

        return help_dialog.show_shortcuts(self)

    def open_preferences(self):
        from . import dialogs

        dialog = dialogs.PreferencesDialog(self.settings, self)
        dialog.open()
        return dialog

    def show_tab(self, index: int) -> None:
        if self.built:
            self.tabs.setCurrentIndex(index)

    # ---------------------------------------------------------------- model and image
    def load_model(self, name: str) -> None:
        from . import user_model_ui

        user_model_ui.loading(self, name)  # the one to undo if it fails to load
        self.subject.load_model(name)
        # Now that the load is under way (jobs.running("model")): Start's hint says "loading".
        self.set_running(False)

    def _open_dialog(self) -> None:
        self.subject.open_dialog()

    def open_image(self, path: str | Path) -> None:
        # Absolute from here on: the recent list and the last folder outlive this working
        # directory (`guiapp photos/cat.jpg` run from elsewhere later must still find it).
        path = Path(path).expanduser().absolute()
        if not self.built:  # opened once the studio is (guiapp IMAGE, a drop or a recent file meanwhile)
            self._pending_image = path
            if self.startup is not None:
                self.startup.set_detail(f"then opening {path.name}")
            return
        from . import result_guard

        if result_guard.may_start_opening(self, path):  # a run under way: asked first
            # Unsaved runs are asked about once the file is read (an unreadable one just says so).
            self.subject.open_image(path, lambda: result_guard.may_leave(self, path))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            self.open_image(files[0])

    # ---------------------------------------------------------------- attack
    def start_attack(self) -> None:
        if self.built:
            self.attack.start()

    def stop_attack(self) -> None:
        if self.built:
            self.attack.stop()

    def start_blocker(self) -> str:
        """Why Start is disabled ('' when it is not)."""
        return action_state.start_blocker(self)

    def update_start(self) -> None:
        self.set_running(self.built and self.attack.running)

    def set_running(self, running: bool) -> None:
        """Enable what can be used now (`running`: a run is under way)."""
        action_state.update(self, running)

    # ---------------------------------------------------------------- the runs
    @property
    def run(self) -> Any:
        """The run on screen (the session's): its plan and result."""
        return self.session.current

    @property
    def result(self) -> Any:
        """The AttackResult on screen, or None."""
        return self.session.result

    def shown_entry(self):
        return self.session.current_entry()

    def show_entry(self, entry) -> None:
        """Show a run of the history again: its images, plot and figures; Save, the
        Defences and the report then act on it."""
        if self.attack.running:
            return  # the run under way owns the views
        self.session.show(entry.run)
        self.views.set_adversarial(entry.result.adversarial, f"Adversarial (run #{entry.number})")
        self.plot.restore(entry.plot)
        self.report.show_stored(entry)
        if self.model is not None and entry.table_model and entry.table_model != self.model.name \
                and not entry.result.cancelled:
            # Measured with another model (chosen since): the table's Original column is this
            # model's, so its Adversarial column must be too (walked: one heading, two models).
            self.report.show(self.model, entry.run, entry, announce=False)
        self.defences.reset()
        if self.model is not None:
            self.insights.show_result(self.model, entry.run)
        self.set_running(False)

    # ---------------------------------------------------------------- defences
    def _defence_input(self):
        if self.result is not None and not self.result.cancelled:
            return self.result.adversarial, self.result.target
        assert self.image is not None  # both callers return without one
        return self.image.rgb, None

    def apply_defence(self) -> None:
        """Purify the shown adversarial image (or the original, before any attack);
        while a defence runs, the same button cancels it."""
        if self.defences.running:
            self.defences.cancel()
            return
        if self.model is None or self.image is None:
            return
        self.tabs.setCurrentWidget(self.defences)
        self.defences.apply(self.model, *self._defence_input())

    def apply_all_defences(self) -> None:
        if self.model is None or self.image is None or self.defences.running:
            return
        self.tabs.setCurrentWidget(self.defences)
        self.defences.apply_all(self.model, *self._defence_input())

    # ---------------------------------------------------------------- save and export
    def _save_dialog(self) -> None:
        from . import save_flow

        save_flow.save_with_dialog(self)

    def save_result(self, path: str | Path, entry=None) -> None:
        """Save atomically (never over the input), then show the re-check of the file."""
        from . import save_flow

        save_flow.save(self, Path(path), entry)

    def export_plot(self) -> None:
        from . import export

        export.export_plot_with_dialog(self)

    def copy_command(self) -> None:
        from .copy_command import copy_command

        copy_command(self)

    def export_report(self) -> None:
        from . import export

        export.report_with_dialog(self)

    # ---------------------------------------------------------------- batch
    def add_model(self) -> None:
        """Model > Add model…: the Model list's last entry, chosen."""
        self.model_combo.setCurrentIndex(self.model_combo.count() - 1)
        self.model_combo.activated.emit(self.model_combo.count() - 1)

    def check_model(self) -> None:
        from . import user_model_ui

        user_model_ui.check_on_folder(self)

    def open_batch_dialog(self) -> None:
        from .batch_dialog import open_batch_dialog

        open_batch_dialog(self)

    # ---------------------------------------------------------------- closing
    def work_under_way(self) -> str:
        """What closing now would throw away ('' if nothing)."""
        return window_close.work_under_way(self)

    def closeEvent(self, event: QCloseEvent) -> None:
        window_close.close_event(self, event)
