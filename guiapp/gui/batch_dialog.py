"""Batch dialog: a folder in, a folder of PNGs and a report out, with progress and cancel.

Runs the engine's BatchRunner (the same one as `guiapp-cli batch`) in a worker thread.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core.attacks import strategy_of
from ..core.batch import BatchProgress, BatchRunner, BatchSummary, TargetSpec
from ..core.batch.report import BUDGET_SPENT  # the state of a run its total query budget ended
from ..core.batch.resume import EARLIER  # the note on a result kept from an earlier run
from ..core.errors import GuiappError
from ..core.models import Classifier
from . import dialogs  # dialogs.confirm_stop looked up at call time: tests answer it
from .jobs import Jobs
from .widgets import LabelCombo
from .workers import Worker

if TYPE_CHECKING:
    from .main_window import MainWindow

STATUS_COLOURS = {"ok": Qt.GlobalColor.darkGreen, "failed": Qt.GlobalColor.darkRed, "error": Qt.GlobalColor.darkRed,
                  "skipped": Qt.GlobalColor.gray, "kept": Qt.GlobalColor.darkGreen}


def shown_status(row: Any) -> str:
    """A row's status as the table shows it: a result kept from an earlier run is 'kept'."""
    return "kept" if row.status == "skipped" and row.error == EARLIER else row.status


def open_batch_dialog(win: MainWindow) -> None:
    """The window's Batch…: the dialog starts from the window's settings and target."""
    if win.model is None:
        win.show_error("The model is still loading; Batch opens once it is ready.")
        return
    try:
        config = win.form.config()
    except GuiappError as exc:
        win.show_error(str(exc))
        return
    changed = [(f.spec.label, f.value(), f.spec.describe_default()) for f in win.form.changed_from_default()]
    dialog = BatchDialog(win.model, config, win.settings, win, changed=changed)
    typed = win.target_combo.currentText().strip()
    if typed:  # typed or picked: the dialog starts from the window's target
        try:
            dialog.target_combo.set_target(win.target_combo.target_index())
        except GuiappError:
            dialog.target_combo.setEditText(typed)  # as typed; its Start says what is wrong
    dialog.open()
    win._batch_dialog = dialog


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


class BatchWorker(Worker):
    progress = Signal(int, object)  # BatchProgress

    def __init__(self, runner: BatchRunner, job_id: int = 0) -> None:
        super().__init__(job_id)
        self.runner = runner

    def cancel(self) -> None:
        self.runner.cancel()

    def work(self):
        for p in self.runner.run():
            self.progress.emit(self.job_id, p)
        return self.runner.summary()


def _folder_row(edit: QLineEdit, pick) -> QWidget:
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(edit, 1)
    button = QPushButton("Browse…")
    button.clicked.connect(pick)
    lay.addWidget(button)
    return w


def describe_config(config: Any, changed: list[tuple[str, Any, str]] | None = None) -> str:
    """The settings a batch inherits from the main window, naming those that are not the
    defaults (remembered from an earlier session, they must never be carried silently)."""
    line = f"{strategy_of(config).describe(config)} (from the main window)"
    if changed:
        def shown(value: Any) -> str:
            return ", ".join(value) if isinstance(value, tuple) else "auto" if value is None else f"{value:g}" \
                if isinstance(value, float) else str(value)

        line += "<br><b>Not the defaults:</b> " + "; ".join(
            f"{label} {shown(value)} (default {default or 'none'})" for label, value, default in changed)
    return line


def inside(folder: Path, other: Path) -> bool:
    """Is `folder` the same as `other` or somewhere below it?"""
    a, b = folder.expanduser().resolve(), other.expanduser().resolve()
    return a == b or b in a.parents


def _stored_text(settings: QSettings, key: str) -> str:
    value = settings.value(key, "")
    return value if isinstance(value, str) else ""


class BatchDialog(QDialog):
    finished_batch = Signal(object)  # BatchSummary

    def __init__(self, model: Classifier, config: Any, settings: QSettings, parent: QWidget | None = None,
                 changed: list[tuple[str, Any, str]] | None = None):
        super().__init__(parent)
        self.setWindowTitle("Batch — attack a folder")
        self.resize(820, 560)
        self.model, self.config, self.settings = model, config, settings
        self.jobs = Jobs(self)
        self.worker: BatchWorker | None = None
        self._planned = 0  # files the running batch will go through
        self._reported = 0  # of those, how many have a row (done, skipped or failed)

        self.input_edit = QLineEdit(_stored_text(settings, "batch/input"))
        self.output_edit = QLineEdit(_stored_text(settings, "batch/output"))
        self.target_combo = LabelCombo(model.labels)
        self.random_box = QCheckBox("a random target per image (seeded)")
        self.random_box.toggled.connect(lambda on: self.target_combo.setEnabled(not on))
        self.recursive_box = QCheckBox("include sub-folders")
        self.recursive_box.setChecked(True)
        self.force_box = QCheckBox("redo images finished in an earlier run")
        form = QFormLayout()
        form.addRow("Input folder", _folder_row(self.input_edit, lambda: self._pick(self.input_edit)))
        form.addRow("Output folder", _folder_row(self.output_edit, lambda: self._pick(self.output_edit)))
        form.addRow("Target", self.target_combo)
        form.addRow("", self.random_box)
        form.addRow("", self.recursive_box)
        form.addRow("", self.force_box)
        settings_label = QLabel(describe_config(config, changed))
        settings_label.setWordWrap(True)
        settings_label.setTextFormat(Qt.TextFormat.RichText)
        self.settings_label = settings_label
        form.addRow("Settings", settings_label)

        self.progress = QProgressBar()
        self.eta_label = QLabel("")
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["file", "status", "target", "result", "PSNR"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        # The selected row in full: an error cell is cut to the column's width.
        self.detail_label = QLabel("")
        self.detail_label.setWordWrap(True)
        self.detail_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table.currentCellChanged.connect(lambda row, *_: self._show_detail(row))
        # Double-click a result: its photo and PNG open in the window (batch_row.py).
        self._rows: list[Any] = []  # per table row: its BatchRow (its message, its result)
        self._folders: tuple[Path, Path] | None = None  # (input, output) of the run shown
        self.table.cellDoubleClicked.connect(lambda row, _col: self.open_row(row))
        self.table.setToolTip("Double-click a result to open its photo and PNG in the window")
        self.summary_label = QLabel("")
        self.summary_label.setWordWrap(True)

        self.buttons = QDialogButtonBox()
        self.start_button = self.buttons.addButton("Start", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton("Cancel run", QDialogButtonBox.ButtonRole.ActionRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)
        self.cancel_button.setEnabled(False)

        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.progress)
        lay.addWidget(self.eta_label)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.detail_label)
        lay.addWidget(self.summary_label)
        lay.addWidget(self.buttons)

    def _pick(self, edit: QLineEdit) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose folder", edit.text() or str(Path.home()))
        if folder:
            edit.setText(folder)

    def start(self) -> None:
        try:
            if self.random_box.isChecked():
                spec = TargetSpec(random_seed=self.config.seed)
            else:
                spec = TargetSpec(label=str(self.target_combo.target_index()))
            if not self.input_edit.text() or not self.output_edit.text():
                raise GuiappError("Choose an input and an output folder.")
            if inside(Path(self.output_edit.text()), Path(self.input_edit.text())):
                # Checked here to say it in the dialog's words (the engine's message names
                # the command-line option that allows it).
                raise GuiappError("The output folder is inside the input folder: choose one outside it, "
                                  "or a later run would take the PNGs it wrote for new inputs.")
            runner = BatchRunner(
                self.input_edit.text(), self.output_edit.text(), self.model, spec, self.config,
                recursive=self.recursive_box.isChecked(), force=self.force_box.isChecked(),
            )
        except GuiappError as exc:
            self.summary_label.setText(f"<span style='color:#d93025'>{exc}</span>")
            return
        self.settings.setValue("batch/input", self.input_edit.text())
        self.settings.setValue("batch/output", self.output_edit.text())
        self.table.setRowCount(0)
        self._rows.clear()
        self._folders = (Path(self.input_edit.text()).absolute(), Path(self.output_edit.text()).absolute())
        self.detail_label.setText("")
        self.summary_label.setText("")
        self.eta_label.setText("starting…")
        images, others = runner.plan()  # a listing; the count says what a cancel leaves undone
        self._planned, self._reported = len(images) + len(others), 0
        self.progress.setMaximum(max(self._planned, 1))
        self.progress.setValue(0)  # not the last run's 100%, should this one stop at once
        self.worker = BatchWorker(runner)
        self.worker.progress.connect(self._on_progress)
        self._set_running(True)
        self.jobs.start("batch", self.worker, self._on_done, self._on_failed)

    def cancel(self) -> None:
        if self.worker is not None:
            self.jobs.stop("batch")
            self.eta_label.setText("cancelling…")

    def _on_progress(self, job: int, p: BatchProgress) -> None:
        if not self.jobs.is_current("batch", job):
            return
        self._planned, self._reported = p.total, p.done
        self.progress.setMaximum(p.total)
        self.progress.setValue(p.done)
        eta = "" if math.isnan(p.eta) else f", about {p.eta:.0f} s left"
        self.eta_label.setText(f"{p.done}/{p.total} files, {p.elapsed:.0f} s elapsed{eta}")
        row = self.table.rowCount()
        self.table.insertRow(row)
        r = p.row
        # A result kept from an earlier run counts as succeeded (in the summary too), not as
        # skipped: its row says so in the same words, with that run's figures.
        status = shown_status(r)
        psnr = f"{r.psnr:.1f} dB" if status in ("ok", "failed", "kept") and math.isfinite(r.psnr) else ""
        cells = [r.input, status, r.target_name, r.final_name or r.error, psnr]
        for col, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if col == 1 and status in STATUS_COLOURS:
                item.setForeground(STATUS_COLOURS[status])
            if r.error:
                item.setToolTip(r.error)
            self.table.setItem(row, col, item)
        self._rows.append(r)
        self.table.scrollToBottom()

    def open_row(self, row: int) -> None:
        """Open the result of table row `row` in the window: its photo, and its PNG as a run."""
        if not 0 <= row < len(self._rows) or self._folders is None:
            return
        from .batch_row import open_row

        r = self._rows[row]
        r = replace(r, status="ok") if shown_status(r) == "kept" else r  # a result all the same
        window = cast("MainWindow", self.parent())  # open_batch_dialog made the window its parent
        inputs, outputs = self._folders
        open_row(window, inputs / r.input, outputs / r.output, r, self.config)

    def _show_detail(self, row: int) -> None:
        r = self._rows[row] if 0 <= row < len(self._rows) else None
        status = shown_status(r) if r is not None else ""
        self.detail_label.setText(f"{r.input} ({status}): {r.error}" if r and r.error and status != "kept" else "")

    def summary_text(self, summary: BatchSummary) -> str:
        """The engine's own counts (the same as report.json), in words: kept results of an
        earlier run are among the succeeded, skipped files are the non-images, and what a
        cancel left undone is the report's pending."""
        report = Path(self.output_edit.text()) / "report.csv"
        parts = [f"{summary.succeeded} succeeded" + (f" ({summary.resumed} kept from an earlier run)"
                                                     if summary.resumed else ""),
                 f"{summary.failed} failed" + (f" ({summary.resumed_failed} in an earlier run, its victim not asked "
                                               "again)" if summary.resumed_failed else ""),
                 plural(summary.errors, "error"),
                 f"{summary.skipped} skipped (not images)"]
        rate = f"; {summary.images_per_second:.2f} images/s" if summary.images_per_second > 0 else ""
        if summary.cancelled:
            left = (f"; {summary.pending} not processed (start again to do them; finished files are kept)"
                    if summary.pending else "")
            why = "Out of query budget" if summary.state == BUDGET_SPENT else "Cancelled"
            return (f"{why}. {summary.done} of {summary.total} files have a result: " + ", ".join(parts)
                    + f"{left}. Report: {report}")
        return f"Done, {summary.done} of {summary.total} files: " + ", ".join(parts) + f"{rate}. Report: {report}"

    def _on_done(self, summary: BatchSummary) -> None:
        self.worker = None
        self._set_running(False)
        self.eta_label.setText("finished" if not summary.cancelled
                               else "out of query budget" if summary.state == BUDGET_SPENT else "cancelled")
        self.summary_label.setText(self.summary_text(summary))
        self.finished_batch.emit(summary)

    def _on_failed(self, message: str) -> None:
        self.worker = None
        self._set_running(False)
        # Refused before the first file (other settings in the output folder, no images...):
        # nothing was written, and the line says so rather than "stopped by an error".
        self.eta_label.setText("stopped by an error" if self._reported else "not started: nothing was changed")
        self.summary_label.setText(f"<span style='color:#d93025'>{message.splitlines()[0]}</span>")

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def closeEvent(self, event) -> None:
        super().closeEvent(event)  # QDialog's asks reject(), which asks the user mid-run
        if event.isAccepted():
            self.jobs.stop("batch")

    def reject(self) -> None:  # Esc, the Close button, the window manager's close
        """Closing mid-run asks first (issue 34 item 8: it cancelled the batch without a word)."""
        if self.worker is not None:
            if not dialogs.confirm_stop(self, f"A batch is running ({self._reported} of {self._planned} files done).",
                                        "Closing this window", "the files not yet done are left (finished ones "
                                        "are kept; Start again resumes)"):
                return  # keep running, the dialog stays open
        self.cancel()
        super().reject()
