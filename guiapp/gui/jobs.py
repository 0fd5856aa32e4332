"""Which background job's result is still wanted: one slot per kind of job.

A window runs several kinds of work at once (loading the model, opening an image,
classifying it, an attack, a defence, saving...). A newer job supersedes only an older job
*of the same kind*: opening a second image drops the first image's load, never the model
load still under way. Results of a superseded job are dropped when they arrive.

Workers report through their `done`/`failed` signals with their job id; they are
connected to this object's slots (a QObject living in the GUI thread), so Qt queues the
calls there. The callbacks given to `start` then run in the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from .workers import FunctionWorker, Worker, start_worker


@dataclass
class _Job:
    id: int
    kind: str
    worker: Worker
    on_done: Callable[[Any], None] | None
    on_failed: Callable[[str], None] | None
    message: str
    own_errors: bool = False


class Jobs(QObject):
    """The current job of each kind; `start` supersedes the previous one of its kind."""

    # True while any wanted job with a message runs, with the newest such message.
    busy_changed = Signal(bool, str)
    # A wanted job failed: (kind, message). Superseded jobs' failures are dropped too.
    failed = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._last_id = 0
        self._current: dict[str, _Job] = {}

    def start(
        self,
        kind: str,
        worker: Worker,
        on_done: Callable[[Any], None] | None = None,
        on_failed: Callable[[str], None] | None = None,
        message: str = "",
        *,
        own_errors: bool = False,
    ) -> int:
        """Run `worker` as the job of `kind`; the previous one of that kind is cancelled
        and its result will be dropped. Returns the new job's id. `own_errors`: `on_failed`
        tells the user itself, so `failed` is not emitted (the window would say it twice)."""
        self.drop(kind)
        self._last_id += 1
        worker.job_id = self._last_id
        worker.done.connect(self._on_done)
        worker.failed.connect(self._on_failed)
        self._current[kind] = _Job(self._last_id, kind, worker, on_done, on_failed, message, own_errors)
        start_worker(worker)
        self._report()
        return self._last_id

    def run(
        self,
        kind: str,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_failed: Callable[[str], None] | None = None,
        message: str = "",
        *,
        own_errors: bool = False,
    ) -> int:
        """`start` for a plain callable run off the GUI thread."""
        return self.start(kind, FunctionWorker(fn), on_done, on_failed, message, own_errors=own_errors)

    def is_current(self, kind: str, job_id: int) -> bool:
        """Is `job_id` the wanted job of `kind` (for the extra signals of a worker)?"""
        job = self._current.get(kind)
        return job is not None and job.id == job_id

    def running(self, kind: str) -> bool:
        return kind in self._current

    def worker(self, kind: str) -> Worker | None:
        job = self._current.get(kind)
        return job.worker if job else None

    def stop(self, kind: str) -> None:
        """Ask the current job of `kind` to stop early; its (partial) result is still wanted."""
        job = self._current.get(kind)
        if job is not None:
            job.worker.cancel()

    def drop(self, *kinds: str) -> None:
        """Cancel the current jobs of `kinds` and forget them: their results are dropped."""
        changed = False
        for kind in kinds:
            job = self._current.pop(kind, None)
            if job is not None:
                job.worker.cancel()
                changed = True
        if changed:
            self._report()

    def drop_all(self) -> None:
        self.drop(*list(self._current))

    def _take(self, job_id: int) -> _Job | None:
        for kind, job in self._current.items():
            if job.id == job_id:
                del self._current[kind]
                return job
        return None  # superseded or dropped: nobody wants this result any more

    @Slot(int, object)
    def _on_done(self, job_id: int, result: object) -> None:
        job = self._take(job_id)
        self._report()
        if job is not None and job.on_done is not None:
            job.on_done(result)

    @Slot(int, str)
    def _on_failed(self, job_id: int, message: str) -> None:
        job = self._take(job_id)
        self._report()
        if job is None:
            return
        if job.on_failed is not None:
            job.on_failed(message)
        if not job.own_errors:
            self.failed.emit(job.kind, message)

    def _report(self) -> None:
        # Jobs without a message (an attack) show their own progress.
        told = [job for job in self._current.values() if job.message]
        if told:
            self.busy_changed.emit(True, max(told, key=lambda j: j.id).message)
        else:
            self.busy_changed.emit(False, "")
