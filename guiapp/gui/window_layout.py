"""The studio's widgets and how they are laid out: the three views over a row of tabs
(the live plot beside the predictions, the noise, the model's view, the defences, the run
history), the side panel on the right (scrollable on small screens). The window wires
their signals (studio.py); this module only builds them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QSplitter, QTabWidget

from ..core.labels import imagenet_labels
from .defence_box import DefenceBox
from .history import HistoryPanel
from .image_views import ImageTriptych
from .insights import NoisePanel, SaliencyPanel
from .kept_runs import KeptRuns
from .live_plot import LivePlot
from .side_panel import SidePanel
from .widgets import PredictionsBox

if TYPE_CHECKING:
    from .main_window import MainWindow

TABS = ("Plot", "Noise", "Model's view", "Defences", "History")


def build(win: MainWindow) -> None:
    """Create the studio's widgets as attributes of `win` and set its central widget."""
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
    # Centre: the three views over the tabs.
    win.views = ImageTriptych()
    win.plot = LivePlot()
    win.predictions = PredictionsBox()
    win.pred_original, win.pred_adversarial = win.predictions.original, win.predictions.adversarial
    win.bottom = QSplitter(Qt.Orientation.Horizontal)
    win.bottom.setChildrenCollapsible(False)
    win.bottom.addWidget(win.plot)
    win.bottom.addWidget(win.predictions)
    win.bottom.setStretchFactor(0, 1)
    win.bottom.setStretchFactor(1, 0)
    win.bottom.setSizes([600, 400])
    win.noise_panel = NoisePanel()
    win.saliency_panel = SaliencyPanel()
    win.defences = DefenceBox(win.jobs)
    win.history = HistoryPanel(win.session)
    win.kept = KeptRuns(win.session, win.jobs, win.settings)  # the session's runs on disk
    win.tabs = QTabWidget()
    win.tabs.setDocumentMode(True)
    tips = ("The optimisation, step by step, beside the top-5 of the original and of the result",
            "The noise: where, how strong, per channel, and the histogram of the changes",
            "The crop the model classifies, and where it finds the evidence for its answer (saliency)",
            "Purify the result as a defender would: does the target survive?",
            "Every run on this image: show one again, compare two, save any, export a report")
    for widget, title, tip in zip((win.bottom, win.noise_panel, win.saliency_panel, win.defences, win.history),
                                  TABS, tips, strict=True):
        win.tabs.addTab(widget, title)
        win.tabs.setTabToolTip(win.tabs.count() - 1, tip)
    win.split = QSplitter(Qt.Orientation.Vertical)
    win.split.setChildrenCollapsible(False)
    win.split.addWidget(win.views)
    win.split.addWidget(win.tabs)
    win.split.setStretchFactor(0, 3)
    win.split.setStretchFactor(1, 2)
    win.split.setSizes([520, 340])

    # Right: what to do, then what happened.
    win.panel = SidePanel(imagenet_labels())
    p = win.panel
    win.target_field, win.target_combo, win.model_combo, win.form = p.target_field, p.target_combo, \
        p.model_combo, p.form
    win.start_button, win.stop_button = p.start_button, p.stop_button
    win.live_label, win.result_label, win.save_label = p.live_label, p.result_label, p.save_label
    win.judges_label = p.judges_label
    # Scrollable, for screens smaller than the 1366x768 the layout is made for.
    side_scroll = QScrollArea()
    side_scroll.setWidget(win.panel)
    side_scroll.setWidgetResizable(True)
    side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    side_scroll.setFrameShape(QFrame.Shape.NoFrame)
    side_scroll.setMinimumWidth(win.panel.minimumWidth() + 16)
    win.side_scroll = side_scroll
    win.hsplit = QSplitter(Qt.Orientation.Horizontal)
    win.hsplit.setChildrenCollapsible(False)
    win.hsplit.addWidget(win.split)
    win.hsplit.addWidget(side_scroll)
    win.hsplit.setStretchFactor(0, 1)
    win.hsplit.setStretchFactor(1, 0)
    win.hsplit.setSizes([1000, SidePanel.WIDTH + 20])
    win.setCentralWidget(win.hsplit)
