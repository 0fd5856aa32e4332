"""A batch result opened in the window (issue 34: reproducibility): double-click a row of
the Batch dialog and its photo opens, with the row's PNG as a run in the History, shown
like any other: the views (blink, swipe, loupe), the table's verdict on the file, the
Defences, the Model's view and Export report all act on it.

The run is built from what the batch knows: its settings (the dialog's config), the
row's figures (source, target, steps, seconds) and the PNG it wrote, read back from disk
in a worker (never on the event loop). The PNG is already saved, so quitting never asks
about it; Save copies it byte for byte, like a run kept from an earlier session.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.attacks.base import AttackResult
from ..core.batch import BatchRow
from ..core.imageio import load_image
from ..core.predict import Prediction
from .live_plot import PlotData
from .run_store import Names, StoredModel, StoredPlan, StoredRun

if TYPE_CHECKING:
    from .main_window import MainWindow


def stored_run(image: Any, row: BatchRow, config: Any, model_name: str, output: Path) -> StoredRun:
    """The row as a run of `image` (the photo as the window opened it). A worker's: it
    decodes the PNG; refuses one that is not this photo's result (another size)."""
    adversarial = load_image(output).rgb
    if adversarial.shape != image.rgb.shape:
        raise ValueError(f"{output.name} is {adversarial.shape[1]}x{adversarial.shape[0]}, not the "
                         f"{image.rgb.shape[1]}x{image.rgb.shape[0]} of {row.input}: not its result")
    names = {row.source: row.source_name, row.target: row.target_name, row.final: row.final_name}
    plan = StoredPlan(image=image, source_name=Path(row.input).name, config=config,
                      crafters=[StoredModel(model_name, Names(names))],
                      source=Prediction(row.source, row.source_name, math.nan), target=row.target,
                      target_name=row.target_name, notes=[f"opened from the batch output {output}"])
    result = AttackResult(adversarial=adversarial, success=bool(row.success), cancelled=False, steps=row.steps,
                          source=row.source, target=row.target, target_conf=row.target_conf, top1=row.final,
                          top1_conf=math.nan, notes=[f"a batch result: {output}"])
    return StoredRun(plan, result, row.seconds, output)


def open_row(win: MainWindow, input_path: Path, output: Path, row: BatchRow, config: Any) -> None:
    """Open the row's photo in the window, then its PNG as a run of it (in the History)."""
    if row.status not in ("ok", "failed") or not output.is_file():
        win.show_error(f"{row.input}: no result file to open ({row.status}).")
        return
    model_name = win.model.name if win.model is not None else ""

    def ready() -> None:
        win.image_ready.disconnect(ready)
        image = win.image
        if image is None or image.path is None or Path(image.path) != input_path.absolute():
            return  # another image opened meanwhile

        def done(run: StoredRun) -> None:
            if win.image is not image or win.attack.running:
                return
            entry = win.session.add(run, PlotData(progress=f"batch result: {output.name}"), [])
            entry.saved = [str(output)]  # on disk already: nothing to ask about on quitting
            win.show_entry(entry)
            if win.model is not None:
                win.report.show(win.model, run, entry, announce=False)  # the table's verdict on the file

        win.jobs.run("batch row", lambda: stored_run(image, row, config, model_name, output), done,
                     lambda message: win.show_error(f"Could not open {output.name}: {message.splitlines()[0]}"),
                     message=f"Reading {output.name}…")

    win.image_ready.connect(ready)
    win.open_image(input_path)
