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
from .startup import trace
from .victim_test import VictimTestRow

if TYPE_CHECKING:
    from .main_window import MainWindow


def start(win: MainWindow) -> None:
    """Replace the start-up panel with the studio: threads, the remembered model (loading
    in a worker while the widgets are built), the widgets, then the image asked for."""
    startup = win.startup
    assert startup is not None  # (main_window._build_studio showed its last stage)
    from ..core.threads import apply_threads
    from . import dialogs

    apply_threads(dialogs.threads(win.settings))
    startup.show_stage("Loading the model")
    from .subject import Subject

    name = window_state.remembered_model(win.settings)
    win.subject = Subject(win)
    win.subject.start_model_job(name)  # loads while the widgets are built
    build(win)
    win.built = True
    win.startup = None  # replaced as the central widget (Qt deletes it)
    win.status_model.setText(f"loading {name}…")
    trace("studio-built")
    win.set_running(False)
    win.studio_ready.emit()
    if win._pending_image is not None:
        win.open_image(win._pending_image)
    else:
        win.views.caption.setText("Open an image (File > Open, drag and drop, or a sample) to begin.")


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
    # Its answer is about one victim and one image: a stale one would read as the current one's.
    win.form.mode_changed.connect(win.victim_test.forget)
    for changed in (win.form.changed, win.image_ready):
        changed.connect(win.victim_test.forget_if_stale)
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
