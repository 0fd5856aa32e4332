"""What the main window is made of: the widgets and actions menus.build and studio.build
attach to it, declared here once so main_window.py holds behaviour, not a list of names
(mypy and a reader see every part's type)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QComboBox, QLabel, QMenu, QPushButton, QScrollArea, QSplitter, QTabWidget

    from .attack_control import AttackControl
    from .defence_box import DefenceBox
    from .history import HistoryPanel
    from .image_views import ImageTriptych
    from .insights import Insights, NoisePanel, SaliencyPanel
    from .kept_runs import KeptRuns
    from .live_plot import LivePlot
    from .run_report import RunReport
    from .settings_form import SettingsForm
    from .side_panel import SidePanel
    from .target_field import TargetField
    from .victim_test import VictimTestRow
    from .widgets import LabelCombo, PredictionsBox, PredictionTable


class WindowParts:
    """Annotations only: no behaviour, no state of its own."""

    # Made by menus.build (in __init__): the actions this class enables and disables.
    act_start: QAction
    act_stop: QAction
    act_save: QAction
    act_export_plot: QAction
    act_export_report: QAction
    act_copy_command: QAction
    act_blink: QAction
    act_swipe: QAction
    act_zoom2: QAction
    act_zoom4: QAction
    act_add_model: QAction
    act_check_model: QAction
    recent_menu: QMenu
    tab_actions: list[QAction]
    # Made by studio.build once the engine is imported (self.built): the parts used here.
    views: ImageTriptych
    plot: LivePlot
    tabs: QTabWidget
    panel: SidePanel
    target_field: TargetField
    model_combo: QComboBox
    form: SettingsForm
    start_button: QPushButton
    stop_button: QPushButton
    defences: DefenceBox
    history: HistoryPanel
    kept: KeptRuns
    attack: AttackControl
    report: RunReport
    insights: Insights
    victim_test: VictimTestRow
    split: QSplitter  # the views above, the tabs below
    hsplit: QSplitter  # the studio left, the side panel right
    bottom: QSplitter  # the plot and the predictions
    side_scroll: QScrollArea
    predictions: PredictionsBox
    pred_original: PredictionTable
    pred_adversarial: PredictionTable
    target_combo: LabelCombo
    noise_panel: NoisePanel
    saliency_panel: SaliencyPanel
    live_label: QLabel
    result_label: QLabel
    save_label: QLabel
    judges_label: QLabel
    act_open: QAction
    # Made later, when used: the last model check (user_model_ui) and the Batch dialog.
    last_check: Any
    check_dialog: Any
    _batch_dialog: Any
