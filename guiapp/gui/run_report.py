"""What a finished run reports: the result line, the adversarial top-5, the judges' verdicts.

Everything is measured on the 8-bit image exactly as it will be saved, through the
standard preprocessing any other program uses, off the GUI thread.
"""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import QObject, Signal

from ..core.api import predict_image
from ..core.attack import AttackResult
from ..core.metrics import distortion
from ..core.models import Classifier, load_model
from ..core.modes import AnyConfig
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

    def show(self, model: Classifier, original: np.ndarray, result: AttackResult, config: AnyConfig,
             announce: bool = True) -> None:
        """Measure `result` with `model` and show it; `announce` emits `measured` after."""
        transfer = config.mode == "transfer"

        def work():
            return predict_image(model, result.adversarial), distortion(original, result.adversarial)

        def done(outcome) -> None:
            preds, dist = outcome
            self.predictions.adversarial.show_predictions(preds, result.target)
            crafted = ""
            if transfer:
                crafted = f" · crafted on {', '.join(config.surrogates)}"
                if model.name in config.surrogates:
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

    def ask_judges(self, judges: list[str], surrogates: tuple[str, ...], device, result: AttackResult) -> None:
        """Transfer mode: what each ticked judge model sees in the 8-bit result."""
        names = [n for n in judges if n not in surrogates]  # a surrogate is no judge
        label = self.panel.judges_label
        if not names:
            self.panel.show_line(label, "No judge ticked: tick other installed models as judges "
                                 "to see whether the noise transfers to them.")
            return
        image, target = result.adversarial, result.target

        def work():
            verdicts = []
            for name in names:
                top = predict_image(load_model(name, device), image, 1)[0]
                verdicts.append((name, top.name, top.confidence, top.index == target))
            return verdicts

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
