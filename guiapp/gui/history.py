"""Run history: every finished run on the current image, kept with its settings, figures,
plot and a thumbnail. Click one to show it again (views, plot, result line, predictions,
judges; Save and the Defences then act on it), select two to compare them side by side,
save any of them (the PNG the pipeline writes for that run, byte for byte the same as
when it was made), or export its one-page report. Each image keeps its own runs: opening
another image shows that image's runs, opening this one again brings these back, after a
restart too (kept_runs writes them to disk; issue 34: results were lost without a
question). The list keeps the last MAX_RUNS runs of an image.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..core.attacks import config_dict
from .image_label import ImageLabel, to_pixmap
from .view_pixels import amplified_difference

MAX_RUNS = 30
THUMB = 56


@dataclass
class RunEntry:
    number: int
    run: Any  # the finished AttackRun: its plan and its AttackResult
    plot: Any  # live_plot.PlotData
    judges_ticked: list[str]
    settings: str  # the strategy's one-line description
    made: float = field(default_factory=time.time)
    preds: list = field(default_factory=list)  # top-5 of the saved 8-bit image (the table's model)
    table_model: str = ""
    dist: Any = None  # core.metrics.Distortion
    verdicts: list = field(default_factory=list)  # [(judge, top-1 name, confidence, fooled)]
    judges_note: str = ""  # why no judge answered, if none did
    saved: list[str] = field(default_factory=list)  # paths this run was saved to
    dismissed: bool = False  # asked whether to save it, the user said no: not asked again

    @property
    def unsaved(self) -> bool:
        """Would quitting lose it without the user having said so?"""
        return not self.saved and not self.dismissed

    @property
    def result(self) -> Any:
        return self.run.result

    @property
    def target_name(self) -> str:
        return self.run.plan.target_name

    def title(self) -> str:
        r = self.result
        outcome = "reached" if r.success else "not reached"
        psnr = f" · {self.dist.psnr:.1f} dB" if self.dist is not None else ""
        return f"#{self.number} {self.target_name} — {outcome} in {r.steps} steps{psnr}\n{self.settings}"

    def figures(self) -> list[tuple[str, str]]:
        """(name, value) rows for the compare view and the report."""
        r, plan = self.result, self.run.plan
        rows = [("run", f"#{self.number}, {time.strftime('%H:%M:%S', time.localtime(self.made))}"),
                ("settings", self.settings), ("crafted on", plan.crafted_on),
                ("target", f"{plan.target_name} ({plan.target})"),
                ("original is", f"{plan.source.name} {plan.source.confidence:.1%}"),
                ("outcome", f"{'target reached' if r.success else 'target not reached'} in {r.steps} steps, "
                            f"{self.run.seconds:.1f} s")]
        if self.preds:
            rows.append((f"{self.table_model} sees", f"{self.preds[0].name} {self.preds[0].confidence:.1%}"))
        if self.dist is not None:
            rows.append(("distortion", f"L-inf {self.dist.linf:.0f}/255 · PSNR {self.dist.psnr:.1f} dB · "
                                       f"SSIM {self.dist.ssim:.4f}"))
        rows += [(f"judge {name}", f"{top} {conf:.0%} — {'fooled' if hit else 'not fooled'}")
                 for name, top, conf, hit in self.verdicts]
        if self.judges_note:
            rows.append(("judges", self.judges_note))
        rows += [("saved as", p) for p in self.saved]
        return rows

    def config(self) -> dict[str, Any]:
        return config_dict(self.run.plan.config)


@dataclass
class ImageRuns:
    """The runs of one image, numbered from 1."""
    entries: list[RunEntry] = field(default_factory=list)
    next_number: int = 1
    path: str = ""  # the image's file
    digest: str = ""  # of its picture (run_store.digest), once known
    read: bool = False  # the runs kept on disk from earlier sessions were read back

class HistoryPanel(QWidget):
    chosen = Signal(object)  # RunEntry to show again
    save_requested = Signal(object)  # RunEntry
    report_requested = Signal(object)  # RunEntry

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.images: dict[str, ImageRuns] = {}  # every image opened (its path) -> its runs
        self.runs = ImageRuns()  # the image shown's
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setIconSize(QSize(THUMB, THUMB))
        self.list.setToolTip("Every run on this image (kept when you open another image, and after a restart). "
                             "Click one to show it again; Ctrl+click a second one to compare the two.")
        self.list.itemSelectionChanged.connect(self._selection_changed)
        self.show_button = QPushButton("Show")
        self.compare_button = QPushButton("Compare")
        self.save_button = QPushButton("Save PNG…")
        self.report_button = QPushButton("Report…")
        self.compare_button.setToolTip("Select two runs (Ctrl+click) to see them side by side")
        self.report_button.setToolTip("A one-page HTML report of the selected run: images, settings, figures, plot")
        self.show_button.clicked.connect(lambda: self._emit(self.chosen))
        self.compare_button.clicked.connect(self.compare)
        self.save_button.clicked.connect(lambda: self._emit(self.save_requested))
        self.report_button.clicked.connect(lambda: self._emit(self.report_requested))
        buttons = QVBoxLayout()
        for b in (self.show_button, self.compare_button, self.save_button, self.report_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 4, 4, 4)
        row.addWidget(self.list, 1)
        row.addLayout(buttons)
        self.dialog: CompareDialog | None = None
        self._update_buttons()

    @property
    def entries(self) -> list[RunEntry]:
        return self.runs.entries

    def switch_to(self, image: str) -> ImageRuns:
        """Show the runs of `image` (a path): none for a new one, its own for one seen before."""
        self.runs = self.images.setdefault(image, ImageRuns(path=image))
        self._fill()
        return self.runs

    def _fill(self) -> None:
        self.list.clear()
        for entry in self.entries:
            self._add_item(entry)
        self.select_none()

    def restore(self, runs: ImageRuns, kept: list[RunEntry]) -> None:
        """Runs read back from disk (run_store) go first; runs made meanwhile are numbered after them."""
        made_now = runs.entries
        runs.entries = (kept + made_now)[-MAX_RUNS:]
        number = max((e.number for e in kept), default=0)
        for entry in made_now:
            number += 1
            entry.number = number
        runs.next_number = number + 1
        runs.read = True
        if runs is self.runs:
            self._fill()

    def unsaved(self, everywhere: bool = False) -> list[RunEntry]:
        """The runs nobody saved or chose not to save: of the image shown, or (`everywhere`)
        of every image opened, oldest first."""
        pool = [e for runs in self.images.values() for e in runs.entries] if everywhere else self.entries
        return sorted((e for e in pool if e.unsaved), key=lambda e: e.made)

    def _add_item(self, entry: RunEntry) -> QListWidgetItem:
        item = QListWidgetItem(QIcon(to_pixmap(entry.result.adversarial, THUMB)), entry.title())
        item.setData(Qt.ItemDataRole.UserRole, entry.number)
        self.list.addItem(item)
        return item

    def add(self, run: Any, plot: Any, judges: list[str]) -> RunEntry:
        entry = RunEntry(self.runs.next_number, run, plot, list(judges), run.plan.strategy.describe(run.plan.config))
        self.runs.next_number += 1
        self.entries.append(entry)
        item = self._add_item(entry)
        if len(self.entries) > MAX_RUNS:
            self.entries.pop(0)
            self.list.takeItem(0)
        blocked = self.list.blockSignals(True)
        self.list.setCurrentItem(item)  # the newest run is the one shown
        self.list.blockSignals(blocked)
        self._update_buttons()
        return entry

    def entry_of(self, run: Any) -> RunEntry | None:
        return next((e for e in self.entries if e.run is run), None)

    def refresh(self, entry: RunEntry) -> None:
        """Its figures arrived: update its line."""
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == entry.number:
                self.list.item(i).setText(entry.title())

    def select_none(self) -> None:
        blocked = self.list.blockSignals(True)
        self.list.clearSelection()
        self.list.blockSignals(blocked)
        self._update_buttons()

    def selected(self) -> list[RunEntry]:
        numbers = [it.data(Qt.ItemDataRole.UserRole) for it in self.list.selectedItems()]
        return [e for e in self.entries if e.number in numbers]

    def select(self, entry: RunEntry, add: bool = False) -> None:
        """Select `entry` (with `add`, besides the current selection), as a click would."""
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == entry.number:
                if not add:
                    self.list.clearSelection()
                item.setSelected(True)

    def _update_buttons(self) -> None:
        chosen = self.selected()
        for button in (self.show_button, self.save_button, self.report_button):
            button.setEnabled(len(chosen) == 1)
        self.compare_button.setEnabled(len(chosen) == 2)

    def _selection_changed(self) -> None:
        """A click: one run selected is shown again."""
        self._update_buttons()
        chosen = self.selected()
        if len(chosen) == 1:
            self.chosen.emit(chosen[0])

    def _emit(self, signal) -> None:
        chosen = self.selected()
        if len(chosen) == 1:
            signal.emit(chosen[0])

    def compare(self) -> CompareDialog | None:
        chosen = self.selected()
        if len(chosen) != 2:
            return None
        self.dialog = CompareDialog(chosen[0], chosen[1], self)
        self.dialog.show()
        return self.dialog


class CompareDialog(QDialog):
    """Two runs side by side: adversarial image, amplified difference, every figure."""

    def __init__(self, a: RunEntry, b: RunEntry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Compare run #{a.number} and run #{b.number}")
        self.resize(900, 640)
        grid = QGridLayout(self)
        self.images: list[ImageLabel] = []
        for col, entry in enumerate((a, b)):
            original = entry.run.plan.image.rgb
            adv, diff = ImageLabel(f"Run #{entry.number}: adversarial", 120, 4), ImageLabel(
                f"Run #{entry.number}: difference x20", 120, 4)
            adv.show_rgb(entry.result.adversarial)
            diff.show_rgb(amplified_difference(original, entry.result.adversarial, 20))
            figures = QLabel("<table>" + "".join(
                f"<tr><td><b>{html.escape(k)}</b>&nbsp;</td><td>{html.escape(v)}</td></tr>"
                for k, v in entry.figures()) + "</table>")
            figures.setWordWrap(True)
            figures.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(QLabel(f"<b>Run #{entry.number}</b>"), 0, col)
            grid.addWidget(adv, 1, col)
            grid.addWidget(diff, 2, col)
            grid.addWidget(figures, 3, col)
            self.images += [adv, diff]
        same = np.array_equal(a.result.adversarial, b.result.adversarial)
        changed = float((a.result.adversarial != b.result.adversarial).any(axis=2).mean()) * 100
        grid.addWidget(QLabel("The two results are identical." if same else
                              f"The two results differ in {changed:.1f}% of the pixels."), 4, 0, 1, 2)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)  # Esc works too; a button says so
        close.rejected.connect(self.reject)
        grid.addWidget(close, 5, 0, 1, 2)
        self.close_button = close.button(QDialogButtonBox.StandardButton.Close)
        grid.setRowStretch(1, 1)
        grid.setRowStretch(2, 1)
