"""What a finished run reports: the result line, the adversarial top-5, the judges' verdicts.

Everything is measured on the 8-bit image exactly as it will be saved, through the
standard preprocessing any other program uses, off the GUI thread; the judges' verdicts
are the pipeline's (guiapp.core.pipeline.judge), as in the CLI's report.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QObject, Signal

from ..core.attacks import AttackResult
from ..core.metrics import distortion
from ..core.models import Classifier
from ..core.pipeline import AttackRun, judge
from ..core.predict import predict_image
from .jobs import Jobs
from .side_panel import SidePanel
from .widgets import PredictionsBox

GREEN, RED = "#188038", "#d93025"


def coloured(text: str, colour: str) -> str:
    return f"<span style='color:{colour}'><b>{text}</b></span>"


def verdict(result: AttackResult) -> str:
    if result.success:
        return f"{coloured('Target reached', GREEN)} in {result.steps} steps"
    return f"{coloured('Target not reached', RED)} in {result.steps} steps — raise the budget or the step limit"


class RunReport(QObject):
    measured = Signal(object)  # the AttackResult, once its line and table are shown
    judged = Signal(object)  # [(model name, top-1 name, confidence, target hit)]

    def __init__(self, jobs: Jobs, panel: SidePanel, predictions: PredictionsBox) -> None:
        super().__init__(panel)
        self.jobs, self.panel, self.predictions = jobs, panel, predictions

    def show(self, model: Classifier, run: AttackRun, announce: bool = True) -> None:
        """Measure the run's result with `model` (the table's) and show it; `announce`
        emits `measured` after."""
        plan, result = run.plan, run.result
        crafters = [m.name for m in plan.crafters]
        original = plan.image.rgb

        def work():
            return predict_image(model, result.adversarial), distortion(original, result.adversarial)

        def done(outcome) -> None:
            preds, dist = outcome
            self.predictions.adversarial.show_predictions(preds, result.target)
            crafted = ""
            if not plan.strategy.uses_chosen_model:
                crafted = f" · crafted on {', '.join(crafters)}"
                if model.name in crafters:
                    # Not a fair test of transfer: the table's model helped craft the noise.
                    self.predictions.set_model_name(f"{model.name} (a surrogate of this run)")
            self.panel.show_line(
                self.panel.result_label,
                f"{verdict(result)}{crafted}<br>saved 8-bit image: {html.escape(preds[0].name)} "
                f"{preds[0].confidence:.1%} · L-inf {dist.linf:.0f}/255 · PSNR {dist.psnr:.1f} dB · "
                f"SSIM {dist.ssim:.4f}",
            )
            if announce:
                self.measured.emit(result)

        self.panel.show_line(self.panel.result_label, verdict(result) + " · measuring…")
        self.jobs.run("result", work, done, message="Classifying the result…")

    def ask_judges(self, judges: list[str], run: AttackRun) -> None:
        """What each ticked judge model sees in the 8-bit result (a model that crafted the
        noise is no judge of it)."""
        plan, result = run.plan, run.result
        crafters = {m.name for m in plan.crafters}
        names = [n for n in judges if n not in crafters]
        label = self.panel.judges_label
        if not names:
            if judges:
                self.panel.show_line(label, f"No judge: {html.escape(', '.join(judges))} helped craft this noise. "
                                     "Tick a model that took no part to see whether the noise transfers to it.")
            return
        device = plan.crafters[0].device

        def work():
            verdicts = judge(names, result.adversarial, result.target, device)
            return [(name, v["top1_name"], v["confidence"], v["success"]) for name, v in verdicts.items()]

        def done(verdicts) -> None:
            lines = [
                f"{html.escape(name)}: {html.escape(top)} {conf:.0%} — "
                + (coloured("fooled", GREEN) if hit else coloured("not fooled", RED))
                for name, top, conf, hit in verdicts
            ]
            self.panel.show_line(label, "Judges (saved 8-bit image):<br>" + "<br>".join(lines))
            self.judged.emit(verdicts)

        self.panel.show_line(label, f"Asking the judges ({', '.join(names)})…")
        self.jobs.run("judges", work, done, message="Asking the judges…")
