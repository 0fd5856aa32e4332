"""How far a run is and how long is left, in words (no Qt: tested on its own).

The attack's strategy says how many steps a run may take (`step_budget`) and whether it
usually stops long before that (`stops_early`: the white-box modes stop once the noise is
small enough). The time per step is measured from the first step on, so loading the
models and building the attack do not count as steps. A run that stops early gets an
upper bound ("at most"), never a promise it will not keep.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


def duration(seconds: float) -> str:
    """under 1 s, 12 s, 1 min 05 s, 1 h 02 min."""
    if not math.isfinite(seconds):
        return "?"
    if seconds < 1:
        return "under 1 s"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


@dataclass
class RunProgress:
    budget: int  # the most steps the run can take
    stops_early: bool  # it usually ends long before the budget
    started: float  # clock time the run was started (perf_counter)
    step: int = 0
    _first: tuple[int, float] | None = field(default=None, repr=False)  # (step, time) of the first record
    _last_time: float = 0.0

    def update(self, step: int, now: float) -> None:
        self.step = step
        if self._first is None:
            self._first = (step, now)
        self._last_time = now

    def seconds_per_step(self) -> float:
        if self._first is None or self.step <= self._first[0]:
            return math.nan
        first_step, first_time = self._first
        return (self._last_time - first_time) / (self.step - first_step)

    def seconds_left(self, now: float) -> float:
        """Estimated seconds to the end of the budget (nan until two steps are seen)."""
        per_step = self.seconds_per_step()
        if math.isnan(per_step):
            return math.nan
        since_last = max(0.0, now - self._last_time)
        return max(0.0, (self.budget - self.step) * per_step - since_last)

    def fraction(self) -> float:
        return min(1.0, self.step / self.budget) if self.budget > 0 else 0.0

    def steps_text(self) -> str:
        if not self.step:
            return "preparing"
        return f"step {self.step} of {'at most ' if self.stops_early else ''}{self.budget}"

    def left_text(self, now: float) -> str:
        left = self.seconds_left(now)
        if math.isnan(left):
            return ""
        if left < 1:
            return "almost done"
        if self.stops_early:
            return f"at most {duration(left)} left"
        return f"about {duration(left)} left"

    def text(self, now: float) -> str:
        """'step 37 of 100 · about 12 s left' (the live line and the plot)."""
        left = self.left_text(now)
        return self.steps_text() + (f" · {left}" if left else "")
