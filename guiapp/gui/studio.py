"""The studio: the window's working parts, built once the engine is imported.

main_window.MainWindow shows itself before torch and the engine are imported (see
startup.py); once a worker has imported the engine, the window imports this module on
the GUI thread (it brings pyqtgraph, never to be imported in a worker thread), then
`build(win)` creates the widgets (window_layout), the controllers (the attack, the run
report, the insights) and wires their signals to the window.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import export, save_flow, user_model_ui, window_layout, window_state
from .attack_control import AttackControl
from .insights import Insights
from .run_report import RunReport
from .victim_test import VictimTestRow

if TYPE_CHECKING:
    from .main_window import MainWindow


def build(win: MainWindow) -> None:
    window_layout.build(win)
    win.attack = AttackControl(win)
    win.report = RunReport(win.jobs, win.panel, win.predictions, win.session)
    win.insights = Insights(win.jobs, win.noise_panel, win.saliency_panel)
    win.start_button.clicked.connect(win.start_attack)
    win.stop_button.clicked.connect(win.stop_attack)
    user_model_ui.install(win)  # the Model list's own models and Add model…, before the state restores
    # The query mode's Test button under its Victim field: one question about the open image.
    win.victim_test = VictimTestRow(win.jobs, lambda: win.form.values("query"),
                                    lambda: win.image.rgb if win.image else None, lambda: win.target_field.labels)
    win.form.attach("query", "victim", win.victim_test)
    win.defences.button.clicked.connect(win.apply_defence)
    win.defences.all_button.clicked.connect(win.apply_all_defences)
    win.defences.done.connect(win.defence_done)
    win.report.measured.connect(win.attack_finished)
    win.report.judged.connect(win.judges_done)
    win.history.chosen.connect(win.show_entry)
    win.history.save_requested.connect(lambda entry: save_flow.save_with_dialog(win, entry))
    win.history.report_requested.connect(lambda entry: export.report_with_dialog(win, entry))
    win.tabs.currentChanged.connect(lambda _: win.insights.set_maps_wanted(
        win.tabs.currentWidget() is win.saliency_panel))
    win.target_field.changed.connect(win.update_start)
    win.form.changed.connect(win.update_start)
    window_state.restore_studio(win)
    win.insights.set_maps_wanted(win.tabs.currentWidget() is win.saliency_panel)
