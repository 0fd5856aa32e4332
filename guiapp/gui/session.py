"""The window's session, without Qt: every image opened and its runs, the image shown's
runs, and what changes them (issue 34's house item: the window's state was spread over
widgets that a test could reach only through a full attack).

Panels observe the session (`observe`) and draw what it says; the History list is one. A
test can drive it with plain objects:

    session = Session()
    session.switch_to("cat.jpg")
    entry = session.add(run, plot, judges=[])
    session.show(run)

Events, each with its subject: "shown" (the run now shown, or None), "image" (ImageRuns:
another image's runs are now shown), "restored" (ImageRuns: runs kept from an earlier
session were read back into it), "added" (RunEntry), "dropped" (RunEntry: the oldest,
past MAX_RUNS), "changed" (RunEntry: its figures, verdicts or where it was saved changed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_RUNS = 30  # per image: a run holds an image-sized result

Listener = Callable[[str, Any], None]


@dataclass
class RunEntry:
    number: int
    run: Any  # the finished AttackRun (or run_store.StoredRun): its plan and its AttackResult
    plot: Any  # live_plot.PlotData
    judges_ticked: list[str]
    settings: str  # the strategy's one-line description
    made: float = field(default_factory=time.time)
    preds: list = field(default_factory=list)  # top-5 of the saved 8-bit image (the table's model)
    table_model: str = ""
    dist: Any = None  # core.metrics.Distortion
    verdicts: list = field(default_factory=list)  # [(judge, top-1 name, confidence, fooled)]
    judges_note: str = ""  # why no judge answered, if none did
    saved: list[str] = field(default_factory=list)  # paths this run was saved to
    dismissed: bool = False  # asked whether to save it, the user said no: not asked again
    report: Any = None  # core.attack_report.AttackReport of the pixels Save writes (the result line)

    @property
    def unsaved(self) -> bool:
        """Would quitting lose it without the user having said so?"""
        return not self.saved and not self.dismissed

    @property
    def result(self) -> Any:
        return self.run.result

    @property
    def target_name(self) -> str:
        return self.run.plan.target_name

    def title(self) -> str:
        r = self.result
        outcome = "reached" if r.success else "not reached"
        psnr = f" · {self.dist.psnr:.1f} dB" if self.dist is not None else ""
        plan = self.run.plan
        # The transfer and query modes name their surrogates in `settings`; the others crafted on
        # the model chosen then (walked: three runs on three models read alike).
        model = "" if not plan.strategy.uses_chosen_model else \
            "+".join(Path(m.name).name for m in plan.crafters) + ", "
        return f"#{self.number} {self.target_name} — {outcome} in {r.steps} steps{psnr}\n{model}{self.settings}"

    def figures(self) -> list[tuple[str, str]]:
        """(name, value) rows for the compare view and the report."""
        r, plan = self.result, self.run.plan
        rows = [("run", f"#{self.number}, {time.strftime('%H:%M:%S', time.localtime(self.made))}"),
                ("settings", self.settings), ("crafted on", plan.crafted_on),
                ("target", f"{plan.target_name} ({plan.target})"),
                ("original is", f"{plan.source.name} {plan.source.confidence:.1%}"),
                ("outcome", f"{'target reached' if r.success else 'target not reached'} in {r.steps} steps, "
                            f"{self.run.seconds:.1f} s")]
        if self.preds:
            rows.append((f"{self.table_model} sees", f"{self.preds[0].name} {self.preds[0].confidence:.1%}"))
        if self.report is not None and self.report.queries is None and len(self.report.crafters_see) > 1:
            rows += [("crafting model", said) for said in self.report.crafters_verdicts()]
        if self.dist is not None:
            rows.append(("distortion", f"L-inf {self.dist.linf:.0f}/255 · PSNR {self.dist.psnr:.1f} dB · "
                                       f"SSIM {self.dist.ssim:.4f}"))
        rows += [(f"judge {name}", f"{top} {conf:.0%} — {'fooled' if hit else 'not fooled'}")
                 for name, top, conf, hit in self.verdicts]
        if self.judges_note:
            rows.append(("judges", self.judges_note))
        rows += [("saved as", p) for p in self.saved]
        return rows

    def config(self) -> dict[str, Any]:
        from ..core.attacks import config_dict  # (the engine: not imported before the window shows)

        return config_dict(self.run.plan.config)


@dataclass
class ImageRuns:
    """The runs of one image, numbered from 1."""
    entries: list[RunEntry] = field(default_factory=list)
    next_number: int = 1
    path: str = ""  # the image's file
    digest: str = ""  # of its picture (run_store.digest), once known
    read: bool = False  # the runs kept on disk from earlier sessions were read back


class Session:
    """Every image opened this session (its path) and its runs; one image's are shown, and
    one run (`current`) is on screen: what Save, the Defences and the report act on."""

    def __init__(self) -> None:
        self.images: dict[str, ImageRuns] = {}
        self.runs = ImageRuns()  # the image shown's (none before the first image)
        # The run on screen: an AttackRun just finished or stopped, a run of the History
        # (an AttackRun or a run_store.StoredRun), or None (a new image, a run under way).
        self.current: Any = None
        self._listeners: list[Listener] = []

    def observe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _tell(self, event: str, subject: Any) -> None:
        for listener in self._listeners:
            listener(event, subject)

    @property
    def entries(self) -> list[RunEntry]:
        return self.runs.entries

    def show(self, run: Any) -> None:
        """`run` is now the one on screen (None: none)."""
        self.current = run
        self._tell("shown", run)

    @property
    def result(self) -> Any:
        """The AttackResult on screen (a stopped run's too), or None."""
        return self.current.result if self.current is not None else None

    def current_entry(self) -> RunEntry | None:
        """The History entry of the run on screen (None: a stopped run, or none)."""
        return self.entry_of(self.current) if self.current is not None else None

    def switch_to(self, image: str) -> ImageRuns:
        """Show the runs of `image` (a path): none for a new one, its own for one seen before."""
        self.runs = self.images.setdefault(image, ImageRuns(path=image))
        self._tell("image", self.runs)
        return self.runs

    def add(self, run: Any, plot: Any, judges: list[str]) -> RunEntry:
        """A finished run of the image shown: numbered after its others, the oldest past
        MAX_RUNS dropped."""
        entry = RunEntry(self.runs.next_number, run, plot, list(judges), run.plan.strategy.describe(run.plan.config))
        self.runs.next_number += 1
        self.entries.append(entry)
        self._tell("added", entry)
        if len(self.entries) > MAX_RUNS:
            self._tell("dropped", self.entries.pop(0))
        return entry

    def restore(self, runs: ImageRuns, kept: list[RunEntry]) -> None:
        """Runs read back from disk (run_store) go first; runs made meanwhile are numbered after them."""
        made_now = runs.entries
        runs.entries = (kept + made_now)[-MAX_RUNS:]
        number = max((e.number for e in kept), default=0)
        for entry in made_now:
            number += 1
            entry.number = number
        runs.next_number = number + 1
        runs.read = True
        self._tell("restored", runs)

    def changed(self, entry: RunEntry) -> None:
        """Its figures, verdicts or saved paths changed: observers redraw it."""
        self._tell("changed", entry)

    def entry_of(self, run: Any) -> RunEntry | None:
        return next((e for e in self.entries if e.run is run), None)

    def runs_holding(self, entry: RunEntry) -> ImageRuns | None:
        return next((r for r in self.images.values() if entry in r.entries), None)

    def unsaved(self, everywhere: bool = False) -> list[RunEntry]:
        """The runs nobody saved or chose not to save: of the image shown, or (`everywhere`)
        of every image opened, oldest first."""
        pool = [e for runs in self.images.values() for e in runs.entries] if everywhere else self.entries
        return sorted((e for e in pool if e.unsaved), key=lambda e: e.made)
