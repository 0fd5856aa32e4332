"""The main window's widgets and how they are laid out: the three views over the live plot
and the predictions, the side panel on the right (scrollable on small screens), the
status bar. The window wires their signals; this module only builds them."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QProgressBar, QScrollArea, QSplitter

from ..core.labels import imagenet_labels
from .image_views import ImageTriptych
from .live_plot import LivePlot
from .side_panel import SidePanel
from .widgets import PredictionsBox


def build(win: Any) -> None:
    """Create the window's widgets as attributes of `win` and set its central widget."""
    # Centre: the three views over the live plot and the predictions.
    win.views = ImageTriptych()
    win.plot = LivePlot()
    win.predictions = PredictionsBox()
    win.pred_original, win.pred_adversarial = win.predictions.original, win.predictions.adversarial
    win.bottom = QSplitter(Qt.Horizontal)
    win.bottom.addWidget(win.plot)
    win.bottom.addWidget(win.predictions)
    win.bottom.setStretchFactor(0, 1)
    win.bottom.setStretchFactor(1, 0)
    win.bottom.setSizes([600, 440])
    win.split = QSplitter(Qt.Vertical)
    win.split.addWidget(win.views)
    win.split.addWidget(win.bottom)
    win.split.setStretchFactor(0, 3)
    win.split.setStretchFactor(1, 2)
    win.split.setSizes([520, 340])

    # Right: what to do, then what happened.
    win.panel = SidePanel(imagenet_labels(), win.jobs)
    p = win.panel
    win.target_combo, win.model_combo, win.form = p.target_combo, p.model_combo, p.form
    win.start_button, win.stop_button = p.start_button, p.stop_button
    win.live_label, win.result_label, win.save_label = p.live_label, p.result_label, p.save_label
    win.judges_label = p.judges_label
    win.defences = p.defences
    # Scrollable, for screens smaller than the 1366x768 the layout is made for.
    side_scroll = QScrollArea()
    side_scroll.setWidget(win.panel)
    side_scroll.setWidgetResizable(True)
    side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    side_scroll.setFrameShape(QFrame.NoFrame)
    side_scroll.setMinimumWidth(win.panel.minimumWidth() + 16)
    win.side_scroll = side_scroll
    win.hsplit = QSplitter(Qt.Horizontal)
    win.hsplit.addWidget(win.split)
    win.hsplit.addWidget(side_scroll)
    win.hsplit.setStretchFactor(0, 1)
    win.hsplit.setStretchFactor(1, 0)
    win.hsplit.setSizes([1000, SidePanel.WIDTH + 20])
    win.setCentralWidget(win.hsplit)

    win.status_device = QLabel()
    win.status_model = QLabel()
    win.status_rate = QLabel()
    win.busy = QProgressBar()
    win.busy.setMaximumWidth(140)
    win.busy.setRange(0, 0)
    win.busy.hide()
    for w in (win.status_device, win.status_model, win.status_rate):
        win.statusBar().addPermanentWidget(w)
    win.statusBar().addPermanentWidget(win.busy)
