"""Batch dialog: a folder in, a folder of PNGs and a report out, with progress and cancel.

Runs the engine's BatchRunner (the same one as `guiapp-cli batch`) in a worker thread.
"""

from __future__ import annotations

import math
from pathlib import Path

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

from ..core.attack import AttackConfig
from ..core.batch import BatchProgress, BatchRunner, TargetSpec
from ..core.errors import GuiappError
from ..core.models import Classifier
from .widgets import LabelCombo
from .workers import Worker, start_worker

STATUS_COLOURS = {"ok": Qt.darkGreen, "failed": Qt.darkRed, "error": Qt.darkRed, "skipped": Qt.gray}


class BatchWorker(Worker):
    progress = Signal(int, object)  # BatchProgress

    def __init__(self, job_id: int, runner: BatchRunner) -> None:
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


class BatchDialog(QDialog):
    finished_batch = Signal(object)  # BatchSummary

    def __init__(self, model: Classifier, config: AttackConfig, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Batch — attack a folder")
        self.resize(820, 560)
        self.model, self.config, self.settings = model, config, settings
        self.worker: BatchWorker | None = None
        self._job = 0

        self.input_edit = QLineEdit(settings.value("batch/input", ""))
        self.output_edit = QLineEdit(settings.value("batch/output", ""))
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
        form.addRow("Settings", QLabel(f"budget {config.eps:g}/255, ≤{config.max_steps} steps, "
                                       f"confidence {config.confidence:g} (from the main window)"))

        self.progress = QProgressBar()
        self.eta_label = QLabel("")
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["file", "status", "target", "result", "PSNR"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.summary_label = QLabel("")
        self.summary_label.setWordWrap(True)

        self.buttons = QDialogButtonBox()
        self.start_button = self.buttons.addButton("Start", QDialogButtonBox.AcceptRole)
        self.cancel_button = self.buttons.addButton("Cancel run", QDialogButtonBox.ActionRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.Close)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)
        self.cancel_button.setEnabled(False)

        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.progress)
        lay.addWidget(self.eta_label)
        lay.addWidget(self.table, 1)
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
                raise GuiappError("choose an input and an output folder")
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
        self.summary_label.setText("")
        self._job += 1
        self.worker = BatchWorker(self._job, runner)
        self.worker.progress.connect(self._on_progress)
        self.worker.done.connect(self._on_done)
        self.worker.failed.connect(self._on_failed)
        self._set_running(True)
        start_worker(self.worker)

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.eta_label.setText("cancelling…")

    def _on_progress(self, job: int, p: BatchProgress) -> None:
        if job != self._job:
            return
        self.progress.setMaximum(p.total)
        self.progress.setValue(p.done)
        eta = "" if math.isnan(p.eta) else f", about {p.eta:.0f} s left"
        self.eta_label.setText(f"{p.done}/{p.total} files, {p.elapsed:.0f} s elapsed{eta}")
        row = self.table.rowCount()
        self.table.insertRow(row)
        r = p.row
        psnr = "" if r.status not in ("ok", "failed") else f"{r.psnr:.1f} dB"
        cells = [r.input, r.status, r.target_name, r.final_name or r.error, psnr]
        for col, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if col == 1 and r.status in STATUS_COLOURS:
                item.setForeground(STATUS_COLOURS[r.status])
            if r.error:
                item.setToolTip(r.error)
            self.table.setItem(row, col, item)
        self.table.scrollToBottom()

    def _on_done(self, job: int, summary) -> None:
        if job != self._job:
            return
        self.worker = None
        self._set_running(False)
        self.summary_label.setText(summary.line() + f" — report in {self.output_edit.text()}/report.csv")
        self.finished_batch.emit(summary)

    def _on_failed(self, job: int, message: str) -> None:
        if job != self._job:
            return
        self.worker = None
        self._set_running(False)
        self.summary_label.setText(f"<span style='color:#d93025'>{message.splitlines()[0]}</span>")

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def closeEvent(self, event) -> None:
        if self.worker is not None:
            self.worker.cancel()
        super().closeEvent(event)

    def reject(self) -> None:  # Esc / Close button
        self.cancel()
        super().reject()
