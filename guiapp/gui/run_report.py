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

from ..core.attack_report import judge
from ..core.attacks import AttackResult
from ..core.metrics import distortion
from ..core.models import Classifier
from ..core.pipeline import AttackRun
from ..core.predict import predict_image
from .jobs import Jobs
from .side_panel import SidePanel
from .widgets import PredictionsBox

GREEN, RED = "#188038", "#d93025"


def coloured(text: str, colour: str) -> str:
    return f"<span style='color:{colour}'><b>{text}</b></span>"


def verdict(result: AttackResult, run: AttackRun | None = None) -> str:
    if result.success:
        # Where the plot's dashed line is: a run may go on after it (refining, or the transfer
        # mode's fixed number of iterations), and "in 150 steps" read as 150 steps to get there.
        first = next((r.step for r in result.history if r.adversarial), result.steps)
        if first < result.steps:
            return f"{coloured('Target reached', GREEN)} at step {first} of {result.steps}"
        return f"{coloured('Target reached', GREEN)} in {result.steps} steps"
    advice = run.plan.strategy.advice(run.plan.config) if run is not None else "raise the budget or the step limit"
    return f"{coloured('Target not reached', RED)} in {result.steps} steps — {html.escape(advice)}"


def seen_text(verdict: dict, target_name: str) -> str:
    """'efficientnet-lite0, which sees snowplow 63% (target 12%)': one model's own verdict."""
    text = f"{html.escape(verdict['model'])}, which sees {_nb(verdict['top1_name'])} {verdict['confidence']:.0%}"
    if verdict["top1_name"] != target_name:
        text += f" (target {verdict['target_conf']:.0%})"
    return text


def _nb(text: str) -> str:
    return html.escape(text).replace(" ", "&nbsp;").replace("-", "&#8209;")


class RunReport(QObject):
    measured = Signal(object)  # the AttackResult, once its line and table are shown
    judged = Signal(object)  # [(model name, top-1 name, confidence, target hit)]

    def __init__(self, jobs: Jobs, panel: SidePanel, predictions: PredictionsBox, history: Any) -> None:
        super().__init__(panel)
        self.jobs, self.panel, self.predictions, self.history = jobs, panel, predictions, history
        self.shown: Any = None  # the history entry on screen (figures arriving for another are kept only)

    # ---------------------------------------------------------------- lines
    def _result_line(self, run: AttackRun, preds, dist, table_model: str) -> str:
        plan, result = run.plan, run.result
        crafters = [m.name for m in plan.crafters]
        crafted = ""
        if result.queries is not None:
            # Query mode: the verdict is the victim's own answer to the saved pixels.
            asked = len(result.queries)
            victim = getattr(plan.config, "victim", "the victim")
            seen = "nobody was asked" if not asked else (
                f"the victim {_nb(victim)} sees "
                f"{_nb(plan.crafters[0].labels[result.top1].name if result.top1 >= 0 else 'a class not in this list')}"
                + (f" {result.top1_conf:.0%}" if result.top1_conf == result.top1_conf else "")
                + (f" (target {result.target_conf:.0%})" if result.top1 != result.target
                   and result.target_conf == result.target_conf else "")
                + f" after {asked} question{'s' if asked != 1 else ''}")
            crafted = f" · {seen}"
        elif crafters != [table_model] or not plan.strategy.uses_chosen_model:
            # Each crafting model's own verdict on the 8-bit result (its standard
            # preprocessing): an average of several is nobody's verdict (issue 34 item 3).
            each = getattr(result, "seen_by", None) or []
            if each:
                crafted = " · crafted on " + ", ".join(seen_text(v, plan.target_name) for v in each)
            else:
                seen = f"{_nb(plan.crafters[0].labels[result.top1].name)} {result.top1_conf:.0%}"
                if result.top1 != result.target:
                    seen += f" (target {result.target_conf:.0%})"
                crafted = f" · crafted on {', '.join(crafters)}, which see {seen}"
        return (f"{verdict(result, run)}{crafted}<br>saved 8-bit image, {_nb(table_model)}: "
                f"{_nb(preds[0].name)} {_nb(f'{preds[0].confidence:.1%}')} · {_nb(f'L-inf {dist.linf:.0f}/255')} · "
                f"{_nb(f'PSNR {dist.psnr:.1f} dB')} · {_nb(f'SSIM {dist.ssim:.4f}')} · "
                f"{_nb(f'CIEDE2000 {dist.ciede2000:.2f}')} · {_nb(f'HaarPSI {dist.haarpsi:.3f}')} · "
                f"{_nb(f'flat-area swirl {dist.flat_swirl:.2f}')}"
                + "".join(f"<br><i>{html.escape(note)}</i>" for note in result.notes))

    def _table_title(self, table_model: str, run: AttackRun) -> None:
        if table_model in [m.name for m in run.plan.crafters] and not run.plan.strategy.uses_chosen_model:
            # Not a fair test of transfer: the table's model helped craft the noise.
            self.predictions.set_model_name(f"{table_model} (a surrogate of this run)")
        else:
            self.predictions.set_model_name(table_model)

    @staticmethod
    def judges_html(verdicts) -> str:
        lines = [f"{html.escape(name)}: {html.escape(top)} {conf:.0%} — "
                 + (coloured("fooled", GREEN) if hit else coloured("not fooled", RED))
                 for name, top, conf, hit in verdicts]
        return "Judges (saved 8-bit image):<br>" + "<br>".join(lines)

    # ---------------------------------------------------------------- measuring
    def show(self, model: Classifier, run: AttackRun, entry: Any = None, announce: bool = True) -> None:
        """Measure the run's result with `model` (the table's) and show it; `announce`
        emits `measured` after. The figures go into `entry` (the run's history entry)."""
        original, result = run.plan.image.rgb, run.result
        self.shown = entry

        def work():
            return predict_image(model, result.adversarial), distortion(original, result.adversarial)

        def done(outcome) -> None:
            preds, dist = outcome
            if entry is not None:
                entry.preds, entry.dist, entry.table_model = preds, dist, model.name
                self.history.refresh(entry)
            if self.shown is entry:
                self.predictions.adversarial.show_predictions(preds, result.target)
                self._table_title(model.name, run)
                self.panel.show_line(self.panel.result_label, self._result_line(run, preds, dist, model.name))
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
            verdicts = judge(names, result.adversarial, result.target, device)
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
        self.panel.show_line(self.panel.result_label, self._result_line(run, entry.preds, entry.dist,
                                                                        entry.table_model))
        if entry.verdicts:
            extra = f"<br>{html.escape(entry.judges_note)}" if entry.judges_note else ""
            self.panel.show_line(self.panel.judges_label, self.judges_html(entry.verdicts) + extra)
        elif entry.judges_note:
            self.panel.show_line(self.panel.judges_label, html.escape(entry.judges_note))
        if entry.saved:
            self.panel.show_line(self.panel.save_label, "Saved as " + ", ".join(html.escape(p) for p in entry.saved))
