"""One attack from the window: start, live updates, stop, and what happens when it ends.

The worker runs the core's pipeline (plan_attack -> AttackRun); this object turns its
signals into the live line, the plot, the views and the status bar, and hands a finished
run to the report (result line, predictions, judges) and the run history. The live line
says which step of how many the run is at and how long is left (the mode's strategy gives
the budget), what the optimiser sees, and what the crafting models see in the 8-bit image
as it would be saved ("as saved", checked a few times per run by the worker).
"""

from __future__ import annotations

import html
import math
import time
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, QTimer

from ..core.attacks import StepRecord, strategy_of
from ..core.errors import GuiappError
from ..core.live_check import SavedView
from ..core.pipeline import AttackRun, plan_attack
from . import dialogs
from .run_progress import RunProgress
from .workers import AttackWorker

if TYPE_CHECKING:
    from .main_window import MainWindow

LIVE_INTERVAL_S = 0.25  # between updates of the live line's text


def nb(text: str) -> str:
    """Escaped text whose spaces and hyphens never break a line."""
    return html.escape(text).replace(" ", "&nbsp;").replace("-", "&#8209;")


def live_html(label: str, progress: str, record: StepRecord | None, check: SavedView | None) -> str:
    """The live line: the run and its progress, the optimiser's numbers, the as-saved check."""
    lines = [f"<b>{html.escape(label)}</b> · {nb(progress)}"]
    if record is not None:
        best = "" if math.isnan(record.best_psnr) else f" · {nb(f'best {record.best_psnr:.1f} dB')}"
        conf = "" if math.isnan(record.target_conf) else f"target {record.target_conf:.0%} · "
        lines.append(f"optimiser ({nb(record.phase)}): {nb(conf)}{nb(f'L-inf {record.linf:.0f}/255')} · "
                     f"{nb(f'PSNR {record.psnr:.1f} dB')}{best}")
    if check is not None:
        lines.append(f"as saved (step {check.step}): {nb(check.top1_name)} · {nb(f'target {check.target_conf:.0%}')}"
                     f" · {nb(f'source {check.source_conf:.0%}')}")
    return "<br>".join(lines)


class AttackControl(QObject):
    def __init__(self, win: MainWindow) -> None:
        super().__init__(win)
        self.win = win
        self.progress: RunProgress | None = None
        self.label = ""  # "transfer on efficientnet-lite0, efficientnet-lite1"
        self.record: StepRecord | None = None
        self.check: SavedView | None = None
        self.judges: list[str] = []  # ticked when the run started
        self._shown_at = 0.0
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)

    @property
    def running(self) -> bool:
        return self.win.jobs.running("attack")

    # ---------------------------------------------------------------- start / stop
    def start(self) -> None:
        win = self.win
        if win.model is None:
            win.show_error("The model is still loading; Start is enabled once it is ready.")
            return
        if win.image is None:
            win.show_error("Open an image first (File > Open, or drop one on the window).")
            return
        target = win.target_field.resolve()  # None: the field says what is wrong and offers choices
        if target is None:
            return
        try:
            config = win.form.config()
        except GuiappError as exc:
            win.show_error(str(exc))
            return
        model, image, limit = win.model, win.image, dialogs.max_pixels(win.settings)

        def make_run() -> AttackRun:
            # The pipeline: the memory check (a MemoryLimitError says where the app keeps the
            # pixel limit), the crafting models, the clean image's class, the centroids.
            return AttackRun(plan_attack(image, target, config=config, model=model, max_pixels=limit))

        worker = AttackWorker(make_run)
        worker.planned.connect(self._on_planned)
        worker.step.connect(self._on_step)
        worker.preview.connect(self._on_preview)
        worker.checked.connect(self._on_checked)
        win.jobs.drop("result", "judges", "save")
        win.session.show(None)
        strategy = strategy_of(config)
        self.judges = win.form.judges.checked()
        self.record, self.check = None, None
        self.progress = RunProgress(strategy.step_budget(config), strategy.stops_early(config), time.perf_counter())
        # Which attack is running, in every live line: the mode and the models it crafts on
        # (in transfer mode not the model of the predictions table).
        self.label = f"{config.mode} on {', '.join(strategy.crafter_names(config, model.name))}"
        win.jobs.start("attack", worker, self._on_done, self._on_failed)
        win.predictions.set_model_name(model.name)
        win.plot.clear(self.progress.budget, self.progress.stops_early)
        win.pred_adversarial.clearContents()
        win.panel.clear_outcome()
        win.defences.reset()
        win.insights.clear_result()
        # Nothing of the last run stays on screen: its adversarial and difference views and
        # its steps/s would read as this run's until the first step arrives.
        win.views.clear_adversarial()
        win.views.set_adversarial_title("Adversarial (preparing…)")
        win.status_rate.setText("")
        self._show_live()
        win.panel.reveal(win.live_label)  # under a long form (a user's model, the query mode) it was cut off
        self.timer.start(500)
        win.history.select_none()
        win.set_running(True)

    def stop(self) -> None:
        if self.running:
            self.win.jobs.stop("attack")
            self.win.views.set_adversarial_title("Adversarial (stopping…)")

    def progress_text(self) -> str:
        return self.progress.text(time.perf_counter()) if self.progress is not None else ""

    # ---------------------------------------------------------------- live
    def _current(self, job: int) -> bool:
        return self.win.jobs.is_current("attack", job)

    def _on_planned(self, job: int, run: AttackRun) -> None:
        if self._current(job):
            self.win.plot.set_series_shown(centroid_loss=run.plan.uses_centroids)
            self.win.views.set_adversarial_title("Adversarial (optimising…)")

    def _on_step(self, job: int, record: StepRecord) -> None:
        if not self._current(job) or self.progress is None:
            return  # a superseded run's late signal
        self.record = record
        now = time.perf_counter()
        self.progress.update(record.step, now)
        self.win.plot.add(record)
        if now - self._shown_at >= LIVE_INTERVAL_S:  # the text (and the layout it moves) a few times a second
            self._show_live()

    def _on_checked(self, job: int, view: SavedView) -> None:
        if self._current(job):
            self.check = view
            self.win.plot.add_check(view.step, view.target_conf)
            self._show_live()

    def _on_preview(self, job: int, image: np.ndarray) -> None:
        if not self._current(job) or image is None:
            return
        start = time.perf_counter()
        self.win.views.set_adversarial(image, "Adversarial (optimising…)", preview=True)
        self.win.views.repaint()  # draw now, to measure what a preview costs here
        worker = self.win.jobs.worker("attack")
        if isinstance(worker, AttackWorker):
            worker.shown(time.perf_counter() - start)

    def _show_live(self) -> None:
        if self.progress is None:
            return
        self._shown_at = time.perf_counter()
        text = self.progress.text(self._shown_at)
        self.win.plot.set_progress(f"{self.label}: {text}")
        self.win.panel.show_line(self.win.live_label, live_html(self.label, text, self.record, self.check))

    def _tick(self) -> None:
        """Twice a second: the time left and the rate, between steps too."""
        progress = self.progress
        if progress is None:
            return
        elapsed = time.perf_counter() - progress.started
        if progress.step:
            self.win.status_rate.setText(f"{progress.step / elapsed:.1f} steps/s · {elapsed:.1f} s")
        if self.running:
            self._show_live()

    # ---------------------------------------------------------------- the end
    def _finish(self) -> None:
        self.timer.stop()
        self._tick()
        self.win.set_running(False)

    def _on_failed(self, message: str) -> None:
        self._finish()
        self.win.views.set_adversarial_title("Adversarial (failed)")
        self.win.panel.show_line(self.win.live_label, "")  # "preparing" would stay under a run that never started
        self.win.plot.set_progress("")

    def _on_done(self, run: AttackRun) -> None:
        win = self.win
        result = run.result
        if self.progress is not None:
            done = "stopped" if result.cancelled else "finished"
            win.plot.set_progress(f"{self.label}: {done} after {result.steps} steps "
                                  f"({time.perf_counter() - self.progress.started:.1f} s)")
        self._finish()
        win.session.show(run)  # (a stopped run too: its partial result is shown, not kept)
        win.set_running(False)
        # The last step's live numbers are not the result's (that is the best step): the
        # result line and the table take over.
        win.panel.show_line(win.live_label, "")
        if result.cancelled:
            if result.steps > 0:
                win.views.set_adversarial(result.adversarial, f"Adversarial (stopped at step {result.steps})")
            else:
                win.views.clear_adversarial()
            # Walked: "nothing to save" right after a live line saying the saved image fooled the
            # model read as a contradiction; say why a stopped run is not kept.
            win.panel.show_line(win.result_label, f"Stopped after {result.steps} steps. A stopped run is "
                                "unfinished, so it is not kept and cannot be saved; fewer steps or iterations "
                                "make a shorter run.")
            # The status bar said the stopped run's rate as if it were still running.
            win.status_rate.setText(f"stopped after {result.steps} steps")
            win.attack_finished.emit(result)
            return
        win.views.set_adversarial(result.adversarial, "Adversarial")
        entry = win.session.add(run, win.plot.snapshot(), self.judges)
        win.kept.keep(entry)  # on disk: it comes back after a restart
        if win.model is not None:  # (the Model box is locked while a run is under way)
            win.report.show(win.model, run, entry)
        win.report.ask_judges(self.judges, run, entry)
        win.insights.show_result(win.model, run)
