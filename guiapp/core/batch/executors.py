"""Where the images of a batch are attacked: in the batch's own thread, or in N processes.

Both executors take `ImageTask`s and give back `TaskResult`s as images finish; the batch
runner (the driver) keeps the journal, so it does not care which executor ran a task. A
task that never started (stop requested) or was abandoned (cancel) comes back with
`row=None` and stays pending.

Worker processes are spawned (not forked: fork is unsafe beside Qt's and CUDA's threads),
load the model once, ignore Ctrl-C (the driver decides) and exit when the driver dies,
so a killed batch leaves no orphan writing into the output folder.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import threading
import traceback
from collections import deque

import torch

from ..errors import GuiappError
from ..models import Classifier
from .task import BatchRow, ImageTask, TaskResult, TaskRunner, TaskSettings, set_torch_threads

POLL_S = 0.2  # how often a waiting driver looks at cancel flags and worker health


def default_workers(device: torch.device) -> int:
    """One worker per CUDA device; on CPU one per core (each runs 1 torch thread)."""
    if device.type == "cuda":
        return max(1, torch.cuda.device_count())
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def worker_devices(device: torch.device, n: int) -> list[str]:
    if device.type == "cuda":
        count = max(1, torch.cuda.device_count())
        return [f"cuda:{i % count}" for i in range(n)]
    return ["cpu"] * n


class InlineExecutor:
    """Runs each task in the calling thread, with the batch's already loaded model."""

    capacity = 1

    def __init__(self, settings: TaskSettings, model: Classifier) -> None:
        self.runner = TaskRunner(settings, model=model)
        self.threads = settings.threads if model.device.type == "cpu" else None
        self._queue: deque[ImageTask] = deque()
        self._stopping = False

    def submit(self, task: ImageTask) -> None:
        self._queue.append(task)

    def next_result(self, cancel: threading.Event) -> TaskResult:
        # `cancel` reaches the attack through cancel_now(), which BatchRunner.cancel calls.
        task = self._queue.popleft()
        if self._stopping:
            return TaskResult(task, None)
        previous = set_torch_threads(self.threads)
        try:
            return self.runner.run(task)
        finally:
            set_torch_threads(previous)

    def stop_starting(self) -> None:
        self._stopping = True

    def cancel_now(self) -> None:
        self._stopping = True
        self.runner.cancel()

    def close(self) -> None:
        pass


# -- worker processes -----------------------------------------------------------------------


def _exit_with_parent() -> None:
    parent = mp.parent_process()
    if parent is not None:
        parent.join()  # returns when the driver is gone, however it died
        os._exit(3)


def _worker_main(settings: TaskSettings, device: str, name: str, tasks, results, stop) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    set_torch_threads(settings.threads)
    try:
        runner = TaskRunner(settings, device=device)
    except GuiappError as exc:
        results.put(("init-failed", name, str(exc)))
        return
    while True:
        task = tasks.get()
        if task is None:
            return
        if stop.is_set():
            results.put(("done", name, TaskResult(task, None, worker=name)))
            continue
        results.put(("started", name, task.rel))
        try:
            result = runner.run(task)
        except Exception:  # a bug: hand the traceback to the driver, which re-raises
            results.put(("crashed", name, (task, traceback.format_exc())))
            return
        result.worker = name
        results.put(("done", name, result))


class ProcessExecutor:
    """N spawned worker processes, each with its own model, fed through a queue."""

    def __init__(self, settings: TaskSettings, devices: list[str]) -> None:
        ctx = mp.get_context("spawn")
        self._ctx, self._settings, self._devices = ctx, settings, devices
        self._tasks, self._results, self._stop = ctx.Queue(), ctx.Queue(), ctx.Event()
        # Twice the workers: a worker finds its next task waiting, never idles on the driver.
        self.capacity = 2 * len(devices)
        self._procs: dict[str, mp.process.BaseProcess] = {}
        self._current: dict[str, ImageTask | None] = {}
        self._outstanding: dict[str, ImageTask] = {}  # submitted, result not received
        self._restarts = 0
        self._cancelled = False
        for i, device in enumerate(devices):
            self._spawn(f"w{i}", device)

    def _spawn(self, name: str, device: str) -> None:
        proc = self._ctx.Process(
            target=_worker_main,
            args=(self._settings, device, name, self._tasks, self._results, self._stop),
            name=f"guiapp-batch-{name}",
            daemon=True,
        )
        proc.start()
        self._procs[name], self._current[name] = proc, None

    def submit(self, task: ImageTask) -> None:
        self._outstanding[task.rel] = task
        self._tasks.put(task)

    def next_result(self, cancel: threading.Event) -> TaskResult:
        while True:
            if cancel.is_set() and not self._cancelled:
                self.cancel_now()
            if self._cancelled:
                if self._outstanding:
                    _, task = self._outstanding.popitem()
                    return TaskResult(task, None)
                raise RuntimeError("no task outstanding")
            try:
                kind, name, payload = self._results.get(timeout=POLL_S)
            except queue.Empty:
                dead = self._check_workers()
                if dead is not None:
                    return dead
                continue
            if kind == "started":
                self._current[name] = self._outstanding.get(payload)
            elif kind == "done":
                self._current[name] = None
                self._outstanding.pop(payload.task.rel, None)
                return payload
            elif kind == "init-failed":
                self._terminate()
                raise GuiappError(payload)
            elif kind == "crashed":
                task, tb = payload
                self._terminate()
                raise RuntimeError(f"a batch worker failed on {task.rel}:\n{tb}")

    def _check_workers(self) -> TaskResult | None:
        """A worker killed from outside (out-of-memory killer...): its image gets an error
        row and a new worker takes its place."""
        for name, proc in list(self._procs.items()):
            if proc.is_alive():
                continue
            task = self._current.pop(name, None)
            code = proc.exitcode
            del self._procs[name]
            self._restarts += 1
            if self._restarts > 3 * len(self._devices):
                self._terminate()
                raise GuiappError(f"batch workers keep dying (last exit code {code}); see the system log")
            self._spawn(name, self._devices[int(name[1:])])
            if task is not None:
                self._outstanding.pop(task.rel, None)
                why = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                row = BatchRow(task.rel, status="error",
                               error=f"the worker process died on this image ({why}; out of memory?)")
                return TaskResult(task, row, worker=name)
        return None

    def stop_starting(self) -> None:
        self._stop.set()

    def cancel_now(self) -> None:
        # Killing is the only way to stop an attack inside another process at once; its
        # PNG is written atomically, so at worst a temp file is left (the next run removes it).
        self._stop.set()
        self._cancelled = True
        self._terminate()

    def _terminate(self) -> None:
        for proc in self._procs.values():
            if proc.is_alive():
                proc.kill()
        for proc in self._procs.values():
            proc.join(timeout=5)

    def close(self) -> None:
        if not self._cancelled:
            for _ in self._procs:
                self._tasks.put(None)
            for proc in self._procs.values():
                proc.join(timeout=10)
        self._terminate()
        self._tasks.close()
        self._results.close()
