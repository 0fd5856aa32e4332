"""Running engine work off the GUI thread.

One worker object per job, moved to its own QThread (the habit of napari's thread_worker
and Orange3's TaskState): `started -> run`, `done/failed -> quit`, `finished -> reap` in
the GUI thread (see _Reaper for why not deleteLater). Every signal carries the job id, so
results of a job that was replaced can be dropped (jobs.Jobs does that per kind of job). Only plain Python/numpy
values cross threads. `live_threads()` lets the window's closeEvent (and the tests) make
sure nothing is left running.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal, Slot

if TYPE_CHECKING:  # this module is imported before the engine (and torch) is: see startup.py
    from ..core.models import Classifier

_LIVE: dict[QThread, "Worker"] = {}
# The live extras of an attack (previews of the iterate, 'as saved' checks) take CPU time
# from the attack itself, on a 2-core machine shared with other work; each waits at least
# SHARE times its last cost (the worker's part and, for previews, the window's drawing),
# so together they stay under ~1/10 of the run: an attack from the window is as fast as
# from the CLI (bench/gui_vs_cli.py).
PREVIEW_INTERVAL_S = 0.4
PREVIEW_SHARE = 25
CHECK_INTERVAL_S = 2.0  # between 'as saved' checks of the current iterate (the first: at step 1)
CHECK_SHARE = 25


def live_threads() -> list[QThread]:
    return [t for t in list(_LIVE) if t.isRunning()]


def _describe(exc: BaseException) -> str:
    try:
        from ..core.errors import GuiappError

        user_error = isinstance(exc, GuiappError)
    except Exception:  # noqa: BLE001 - the engine itself failed to import: a bug to report
        user_error = False
    if user_error:
        return str(exc)
    # A bug, not a user error: keep the traceback for the details pane.
    return f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}"


class Worker(QObject):
    """Base: subclasses implement work(); run() reports done/failed with the job id."""

    done = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self, job_id: int = 0) -> None:
        super().__init__()
        self.job_id = job_id  # set by Jobs.start before the thread starts

    def work(self) -> Any:
        raise NotImplementedError

    def cancel(self) -> None:
        """Ask the job to stop; safe from any thread."""

    @Slot()
    def run(self) -> None:
        try:
            result = self.work()
        except BaseException as exc:  # noqa: BLE001 - reported to the window, never lost
            self.failed.emit(self.job_id, _describe(exc))
        else:
            self.done.emit(self.job_id, result)


class FunctionWorker(Worker):
    """Runs one callable (model loading, image loading, saving...)."""

    def __init__(self, fn: Callable[[], Any], job_id: int = 0) -> None:
        super().__init__(job_id)
        self.fn = fn

    def work(self) -> Any:
        return self.fn()


class AttackWorker(Worker):
    """Plans the attack in the worker thread (the pipeline checks memory, loads the models
    it crafts on, classifies the clean image), then iterates its step generator, emitting
    each record, a throttled preview and, a few times per run, what the crafting models
    see in the current 8-bit image through the standard preprocessing ("as saved").

    `make_run()` returns a guiapp.core.pipeline.AttackRun; `planned` carries it before the
    first step; the work's result is that run, finished (its plan and its AttackResult).
    """

    planned = Signal(int, object)  # the AttackRun, built (its plan: crafters, target, source)
    step = Signal(int, object)  # StepRecord (frozen dataclass of floats/ints)
    preview = Signal(int, object)  # (H, W, 3) uint8 of the current iterate
    checked = Signal(int, object)  # guiapp.core.live_check.SavedView of the current iterate

    def __init__(self, make_run: Callable[[], Any], job_id: int = 0) -> None:
        super().__init__(job_id)
        self.make_run = make_run
        self.attack: Any = None
        self._lock = threading.Lock()
        self._cancelled = False

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            attack = self.attack
        if attack is not None:
            attack.cancel()

    def shown(self, seconds: float) -> None:
        """The window drew the last preview in `seconds` (called from the GUI thread)."""
        self._display_cost = seconds
        self._preview_pending = False

    def work(self) -> Any:
        from ..core.live_check import as_saved

        attack = self.make_run()
        with self._lock:
            self.attack = attack
            cancelled = self._cancelled
        if cancelled:  # Stop pressed while the attack was being built
            attack.cancel()
        self.planned.emit(self.job_id, attack)
        self._display_cost, self._preview_pending = 0.0, False
        # The first preview and the first check come after their interval, not at step 1:
        # a short run (a second or two) would pay for them in full.
        next_preview = time.perf_counter() + PREVIEW_INTERVAL_S
        next_check = time.perf_counter() + CHECK_INTERVAL_S / 2
        checked = False
        for record in attack.steps():
            self.step.emit(self.job_id, record)
            now = time.perf_counter()
            image = None
            if now >= next_preview and not self._preview_pending:
                image = attack.current_image()
                if image is not None:
                    self._preview_pending = True  # one at a time: never a queue of images
                    self.preview.emit(self.job_id, image)
                cost = time.perf_counter() - now + self._display_cost
                next_preview = now + max(PREVIEW_INTERVAL_S, PREVIEW_SHARE * cost)
            if now >= next_check and not attack.cancelled:
                start = time.perf_counter()
                image = image if image is not None else attack.current_image()
                if image is not None:
                    self.checked.emit(self.job_id, as_saved(attack.plan, image, record.step))
                    checked = True
                next_check = now + max(CHECK_INTERVAL_S, CHECK_SHARE * (time.perf_counter() - start))
        result = None if attack.cancelled else attack.result
        if not checked and result is not None and result.steps > 0:
            # A run shorter than the first check's wait: one look at the result as saved, so
            # the plot shows a dot for every finished run (one forward pass per crafter).
            self.checked.emit(self.job_id, as_saved(attack.plan, result.adversarial, result.steps))
        return attack


class _Reaper(QObject):
    """Lives in the GUI thread and releases finished threads there.

    Lifecycle rules, each learnt from a crash or hang seen in CI:
    - Threads have no Qt parent and are never `deleteLater`-ed: Python owns them, so a
      QThread object stays valid for as long as any code (stop_all, a test) holds it, and
      closing a dialog or window never deletes a thread that is still running.
    - Workers are not destroyed in their own thread (no `finished -> worker.deleteLater`):
      ~QObject then holds a Qt mutex while PySide asks for the GIL, and the GUI thread,
      holding the GIL inside QObject::connect, waits for that mutex (a deadlock).
    So `finished` is queued to this object, which drops the last references to the thread
    and its worker in the GUI thread once the thread has really ended.
    """

    def __init__(self) -> None:
        super().__init__()
        self._finishing: set[QThread] = set()

    @Slot()
    def reap(self) -> None:
        sender = self.sender()
        if isinstance(sender, QThread):
            self._finishing.add(sender)
        for thread in list(self._finishing):
            if thread.isFinished():
                self._finishing.discard(thread)
                _LIVE.pop(thread, None)  # the last references: thread and worker go here
        if self._finishing:
            # `finished` is emitted just before the thread marks itself finished; look again.
            QTimer.singleShot(20, self.reap)


_REAPER: _Reaper | None = None


def start_worker(worker: Worker) -> QThread:
    """Move `worker` to a new QThread, wire the lifecycle, start it (call from the GUI thread)."""
    global _REAPER
    if _REAPER is None:
        _REAPER = _Reaper()
    thread = QThread()
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    worker.done.connect(thread.quit)
    worker.failed.connect(thread.quit)
    thread.finished.connect(_REAPER.reap)
    # The registry holds the thread and its worker for as long as the thread lives.
    _LIVE[thread] = worker
    thread.start()
    return thread


def wait_for(thread: QThread, timeout_ms: int) -> bool:
    """Wait for a thread to end without holding the GIL or starving queued events.

    QThread.wait() blocks the GUI thread inside C++; a worker that still needs the GIL
    (its Python loop, a finished-handler) or a queued call could then stall. Polling with
    time.sleep always releases the GIL. The caller holds `thread`, so it stays valid.
    """
    deadline = time.perf_counter() + timeout_ms / 1000
    while thread.isRunning() and time.perf_counter() < deadline:
        QCoreApplication.processEvents()
        time.sleep(0.01)
    QCoreApplication.processEvents()  # let the reaper run for it
    return not thread.isRunning()


def stop_all(timeout_ms: int = 5000) -> bool:
    """Cancel every running worker and wait for its thread; True if all stopped."""
    jobs = list(_LIVE.items())
    for thread, worker in jobs:
        worker.cancel()
        thread.quit()
    return all([wait_for(thread, timeout_ms) for thread, _ in jobs])


class DefenceWorker(Worker):
    """Purify the model's view of an image with one defence and classify the result:
    (the view, the purified view, its top-5, did the target survive)."""

    progress = Signal(int, int, int)  # job id, iteration, total (Deep Image Prior only)

    def __init__(self, model: Classifier, image, defence, target: int, job_id: int = 0) -> None:
        super().__init__(job_id)
        self.model, self.image, self.defence, self.target = model, image, defence, target
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def work(self) -> Any:
        from ..core.defences import model_view
        from ..core.predict import classify_view, top_k

        view = model_view(self.image, self.model.spec)
        extra = {}
        if self.defence.name == "dip":
            extra = {"progress": lambda i, n, mse: self.progress.emit(self.job_id, i, n), "cancel": self._cancel,
                     "device": self.model.device}
        purified = self.defence(view, **extra)
        probs = classify_view(self.model, purified)
        return view, purified, top_k(self.model, probs, 5), int(probs.argmax()) == self.target
