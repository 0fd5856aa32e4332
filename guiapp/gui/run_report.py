"""What a finished run reports: the result line, the adversarial top-5, the judges' verdicts.

Everything is measured on the 8-bit image exactly as it will be saved, through the
standard preprocessing any other program uses, off the GUI thread; the judges' verdicts
are the pipeline's (guiapp.core.attack_report.judge), as in the CLI's report. The figures are
kept in the run's history entry, so showing the run again needs no new measurement.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import QObject, Signal

from ..core.attack_report import AttackReport, judge, make_report
from ..core.attacks import AttackResult
from ..core.metrics import Distortion, distortion
from ..core.models import Classifier
from ..core.pipeline import AttackRun
from ..core.predict import Prediction, predict_image
from ..core.saved_result import PixelVerdict, verify_pixels
from .jobs import Jobs
from .run_store import StoredRun
from .session import Session
from .side_panel import SidePanel
from .user_model_ui import short_name
from .widgets import PredictionsBox

GREEN, RED = "#188038", "#d93025"
AnyRun = AttackRun | StoredRun  # a run made now, or one read back from the History or a batch (no models)


def coloured(text: str, colour: str) -> str:
    return f"<span style='color:{colour}'><b>{text}</b></span>"


def verdict(result: AttackResult, run: AnyRun | None = None) -> str:
    if result.success:
        # Where the plot's dashed line is: a run may go on after it (refining, or the transfer
        # mode's fixed number of iterations), and "in 150 steps" read as 150 steps to get there.
        first = next((r.step for r in result.history if r.adversarial), result.steps)
        if first < result.steps:
            return f"{coloured('Target reached', GREEN)} at step {first} of {result.steps}"
        return f"{coloured('Target reached', GREEN)} in {result.steps} steps"
    advice = run.plan.strategy.advice(run.plan.config) if run is not None else "raise the budget or the step limit"
    return f"{coloured('Target not reached', RED)} in {result.steps} steps — {html.escape(advice)}"


def stored_report(run: Any, dist: Distortion) -> AttackReport:
    """The report of a run without models (a batch row's file; a run kept by a version
    that stored no report): built from what the run itself measured on its 8-bit result."""
    result, labels = run.result, run.plan.crafters[0].labels
    name = labels[result.top1].name if result.top1 >= 0 else "a class not in this list"
    seen = PixelVerdict(Prediction(result.top1, name, result.top1_conf), result.target_conf, result.success,
                        tuple(result.seen_by))
    return make_report(run.plan, run, dist, seen, {})


def _nb(text: str) -> str:
    return html.escape(text).replace(" ", "&nbsp;").replace("-", "&#8209;")


class RunReport(QObject):
    measured = Signal(object)  # the AttackResult, once its line and table are shown
    judged = Signal(object)  # [(model name, top-1 name, confidence, target hit)]

    def __init__(self, jobs: Jobs, panel: SidePanel, predictions: PredictionsBox, session: Session) -> None:
        super().__init__(panel)
        self.jobs, self.panel, self.predictions, self.session = jobs, panel, predictions, session
        self.shown: Any = None  # the history entry on screen (figures arriving for another are kept only)

    # ---------------------------------------------------------------- lines
    def _result_line(self, report: AttackReport, run: AnyRun, preds, table_model: str) -> str:
        """The pipeline's report of the run, worded as the CLI words it, plus what the
        table's model sees in the same pixels."""
        plan = run.plan
        crafted = ""
        if report.queries is not None:
            crafted = f" · the victim {html.escape(report.victim_verdict())}"  # its word on the saved pixels
        elif report.crafters_see and ([m.name for m in plan.crafters] != [table_model]
                                      or not plan.strategy.uses_chosen_model):
            said = report.crafters_verdicts()
            crafted = (f" · crafting model{'s' if len(said) > 1 else ''}: "
                       + "; ".join(html.escape(one) for one in said))
        notes = [note for note in report.notes if note not in plan.notes]  # the image's and models' are shown apart
        return (f"{verdict(run.result, run)}{crafted}<br>saved 8-bit image, {_nb(table_model)}: "
                f"{_nb(preds[0].name)} {_nb(f'{preds[0].confidence:.1%}')} · "
                + " · ".join(_nb(figure) for figure in report.noise_figures())
                + "".join(f"<br><i>{html.escape(note)}</i>" for note in notes))

    def _table_title(self, table_model: str, run: AnyRun) -> None:
        crafters = [m.name for m in run.plan.crafters]
        if table_model in crafters and not run.plan.strategy.uses_chosen_model:
            # Not a fair test of transfer: the table's model helped craft the noise. In the query
            # mode its green target said "fooled" beside a victim that was not (walked).
            # (Short: a longer heading widened the box and squeezed the plot beside it.)
            victim = "a surrogate, not the victim" if getattr(run.plan.config, "max_queries", 0) > 0 else \
                "a surrogate of this run"
            self.predictions.set_model_name(f"{table_model} ({victim})")
        elif table_model not in crafters and run.plan.strategy.uses_chosen_model:
            # The model was changed after the run: the table is another model's view of its noise,
            # beside a verdict about the model that crafted it (walked: read as a contradiction).
            self.predictions.set_model_name(f"{table_model} (did not craft this noise)")
        else:
            self.predictions.set_model_name(table_model)

    @staticmethod
    def judges_html(verdicts) -> str:
        lines = [f"{html.escape(short_name(name))}: {html.escape(top)} {conf:.0%} — "
                 + (coloured("fooled", GREEN) if hit else coloured("not fooled", RED))
                 for name, top, conf, hit in verdicts]
        return "Judges (saved 8-bit image):<br>" + "<br>".join(lines)

    # ---------------------------------------------------------------- measuring
    def show(self, model: Classifier, run: AnyRun, entry: Any = None, announce: bool = True) -> None:
        """Measure the run's result with `model` (the table's) and show it; `announce`
        emits `measured` after. The figures go into `entry` (the run's history entry)."""
        original, result = run.plan.image.rgb, run.result
        self.shown = entry

        def work():
            dist = distortion(original, result.adversarial)
            if isinstance(run, StoredRun):  # a batch row's file: its models are not loaded again for it
                report = stored_report(run, dist)
            else:  # the pipeline's report of the pixels Save will write, as the CLI reports a saved file
                report = make_report(run.plan, run, dist, verify_pixels(run.plan, result), {})
            return predict_image(model, result.adversarial), dist, report

        def done(outcome) -> None:
            preds, dist, report = outcome
            if entry is not None:
                entry.preds, entry.dist, entry.table_model, entry.report = preds, dist, model.name, report
                self.session.changed(entry)
            if self.shown is entry:
                self.predictions.adversarial.show_predictions(preds, result.target)
                self._table_title(model.name, run)
                self.panel.show_line(self.panel.result_label, self._result_line(report, run, preds, model.name))
                self.panel.reveal(self.panel.result_label)  # below the fold at 1366x768 in the query mode
            if announce:
                self.measured.emit(result)

        self.panel.show_line(self.panel.result_label, verdict(result, run) + " · measuring…")
        self.jobs.run("result", work, done, message="Classifying the result…")

    def ask_judges(self, judges: list[str], run: AttackRun, entry: Any = None) -> None:
        """What each ticked judge model sees in the 8-bit result (a model that crafted the
        noise is no judge of it: the form said so before Start)."""
        plan, result = run.plan, run.result
        crafters = {m.name for m in plan.crafters}
        names = [n for n in judges if n not in crafters]
        label = self.panel.judges_label
        if not names:
            if judges:
                note = (f"No verdict: {', '.join(judges)} helped craft this noise. Tick a model that took no "
                        "part to see whether the noise transfers to it.")
                if entry is not None:
                    entry.judges_note = note
                self.panel.show_line(label, html.escape(note))
            return
        device = plan.crafters[0].device

        def work():
            # The target indexes the crafters' labels; a judge with labels of its own (a user's
            # model) is asked about the class of the same name.
            verdicts = judge(names, result.adversarial, result.target, device, labels=plan.crafters[0].labels)
            return [(name, v["top1_name"], v["confidence"], v["success"]) for name, v in verdicts.items()]

        def done(verdicts) -> None:
            if entry is not None:
                entry.verdicts = verdicts
                skipped = [n for n in judges if n in crafters]
                if skipped:
                    entry.judges_note = f"{', '.join(skipped)} helped craft this noise: no verdict"
            if self.shown is entry:
                extra = f"<br>{html.escape(entry.judges_note)}" if entry is not None and entry.judges_note else ""
                self.panel.show_line(label, self.judges_html(verdicts) + extra)
            self.judged.emit(verdicts)

        self.panel.show_line(label, f"Asking the judges ({', '.join(names)})…")
        self.jobs.run("judges", work, done, message="Asking the judges…")

    # ---------------------------------------------------------------- a run again
    def show_stored(self, entry: Any) -> None:
        """Show a history entry's figures as they were measured (nothing is recomputed)."""
        self.shown = entry
        run = entry.run
        self.panel.clear_outcome()
        if entry.dist is None:
            self.panel.show_line(self.panel.result_label, verdict(run.result, run) + " · measuring…")
            return
        self.predictions.adversarial.show_predictions(entry.preds, run.result.target)
        self._table_title(entry.table_model, run)
        report = entry.report or stored_report(run, entry.dist)
        self.panel.show_line(self.panel.result_label, self._result_line(report, run, entry.preds,
                                                                        entry.table_model))
        if entry.verdicts:
            extra = f"<br>{html.escape(entry.judges_note)}" if entry.judges_note else ""
            self.panel.show_line(self.panel.judges_label, self.judges_html(entry.verdicts) + extra)
        elif entry.judges_note:
            self.panel.show_line(self.panel.judges_label, html.escape(entry.judges_note))
        if entry.saved:
            self.panel.show_line(self.panel.save_label, "Saved as " + ", ".join(html.escape(p) for p in entry.saved))
