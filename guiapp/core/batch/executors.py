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
import signal
import threading
import traceback
from collections import deque
from multiprocessing.connection import Connection, wait
from typing import Any, cast

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


# Images per group on a GPU when the mode batches across images (transfer) and the user
# did not say: enough to fill the device's batch a little without multiplying the memory
# much (each image of a group keeps its own graph). Not measured on a GPU yet.
GPU_GROUP = 8


def default_group(device: torch.device, batches_images: bool) -> int:
    """Images attacked together by one worker: GPU_GROUP on CUDA for a mode that batches
    across images, else 1 (on the CPU a group is as fast as one at a time)."""
    return GPU_GROUP if device.type == "cuda" and batches_images else 1


def worker_devices(device: torch.device, n: int) -> list[str]:
    if device.type == "cuda":
        count = max(1, torch.cuda.device_count())
        return [f"cuda:{i % count}" for i in range(n)]
    return ["cpu"] * n


class InlineExecutor:
    """Runs tasks in the calling thread, with the batch's already loaded model: one at a
    time, or `group` at a time in one loop (TaskRunner.run_group)."""

    def __init__(self, settings: TaskSettings, model: Classifier, group: int = 1) -> None:
        self.runner = TaskRunner(settings, model=model)
        self.threads = settings.threads if model.device.type == "cpu" else None
        self.capacity = group
        self._queue: deque[ImageTask] = deque()
        self._finished: deque[TaskResult] = deque()  # a group's results, handed out one by one
        self._stopping = False

    def submit(self, task: ImageTask) -> None:
        self._queue.append(task)

    def next_result(self, cancel: threading.Event) -> TaskResult:
        # `cancel` reaches the attack through cancel_now(), which BatchRunner.cancel calls.
        if self._finished:
            return self._finished.popleft()
        if self._stopping:
            return TaskResult(self._queue.popleft(), None)
        tasks = [self._queue.popleft() for _ in range(min(self.capacity, len(self._queue)))]
        previous = set_torch_threads(self.threads)
        try:
            self._finished.extend(self.runner.run_group(tasks) if len(tasks) > 1 else [self.runner.run(tasks[0])])
        finally:
            set_torch_threads(previous)
        return self._finished.popleft()

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


def _worker_main(settings: TaskSettings, device: str, name: str, conn, stop) -> None:
    """One worker: tasks in, ("started" | "done" | "init-failed" | "crashed", name, payload) out,
    over its own pipe to the driver."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    set_torch_threads(settings.threads)
    try:
        runner = TaskRunner(settings, device=device)
    except GuiappError as exc:
        conn.send(("init-failed", name, str(exc)))
        return
    while True:
        try:
            task = conn.recv()
        except EOFError:  # the driver is gone
            return
        if task is None:
            return
        if stop.is_set():
            conn.send(("done", name, TaskResult(task, None, worker=name)))
            continue
        conn.send(("started", name, task.rel))
        try:
            result = runner.run(task)
        except Exception:  # a bug: hand the traceback to the driver, which re-raises
            conn.send(("crashed", name, (task, traceback.format_exc())))
            return
        result.worker = name
        conn.send(("done", name, result))


class ProcessExecutor:
    """N spawned worker processes, each with its own model and its own pipe to the driver.

    One pipe per worker, not shared queues: a shared multiprocessing.Queue holds a lock
    while a reader waits in get() (and while a writer's feeder thread writes), so a worker
    killed from outside at that moment (the out-of-memory killer, kill -9) left the lock
    taken and every other worker blocked for good: the batch hung. With private pipes the
    driver also knows which tasks each worker holds: when one dies, the image it had
    started gets an error row and the ones it had not started go to its replacement."""

    def __init__(self, settings: TaskSettings, devices: list[str]) -> None:
        ctx = mp.get_context("spawn")
        self._ctx, self._settings, self._devices = ctx, settings, devices
        self._stop = ctx.Event()
        # Two tasks per worker: a worker finds its next task waiting, never idles on the driver.
        self.capacity = 2 * len(devices)
        self._procs: dict[str, mp.process.BaseProcess] = {}
        self._conns: dict[str, Connection] = {}
        self._assigned: dict[str, list[ImageTask]] = {}  # sent to the worker, no result yet (in order)
        self._current: dict[str, ImageTask | None] = {}  # the task the worker said it started
        self._restarts = 0
        self._cancelled = False
        for i, device in enumerate(devices):
            self._spawn(f"w{i}", device)

    def _spawn(self, name: str, device: str) -> None:
        mine, theirs = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(
            target=_worker_main,
            args=(self._settings, device, name, theirs, self._stop),
            name=f"guiapp-batch-{name}",
            daemon=True,
        )
        proc.start()
        theirs.close()  # the worker's end lives in the worker: its death closes the pipe here
        self._procs[name], self._conns[name], self._current[name] = proc, mine, None
        self._assigned.setdefault(name, [])

    def _send(self, name: str, task: ImageTask) -> None:
        self._assigned[name].append(task)
        try:
            self._conns[name].send(task)
        except OSError:
            pass  # the worker just died: _check_workers hands its tasks to the replacement

    def submit(self, task: ImageTask) -> None:
        name = min(self._assigned, key=lambda n: len(self._assigned[n]))
        self._send(name, task)

    def next_result(self, cancel: threading.Event) -> TaskResult:
        while True:
            if cancel.is_set() and not self._cancelled:
                self.cancel_now()
            if self._cancelled:
                for tasks in self._assigned.values():
                    if tasks:
                        return TaskResult(tasks.pop(), None)
                raise RuntimeError("no task outstanding")
            ready = cast(list[Connection], wait(list(self._conns.values()), timeout=POLL_S))
            message: tuple[str, str, Any] | None = None
            for conn in ready:
                try:
                    message = conn.recv()
                    break
                except (EOFError, OSError):
                    continue  # a dead worker's pipe: _check_workers below
            if message is None:
                dead = self._check_workers()
                if dead is not None:
                    return dead
                continue
            kind, name, payload = message
            if kind == "started":
                self._current[name] = next((t for t in self._assigned[name] if t.rel == payload), None)
            elif kind == "done":
                self._current[name] = None
                self._assigned[name] = [t for t in self._assigned[name] if t.rel != payload.task.rel]
                return payload
            elif kind == "init-failed":
                self._terminate()
                raise GuiappError(payload)
            elif kind == "crashed":
                task, tb = payload
                self._terminate()
                raise RuntimeError(f"a batch worker failed on {task.rel}:\n{tb}")

    def _check_workers(self) -> TaskResult | None:
        """A worker killed from outside (out-of-memory killer...): the image it had started
        gets an error row, a new worker takes its place and the images it had not started."""
        for name, proc in list(self._procs.items()):
            if proc.is_alive():
                continue
            proc.join(timeout=1)
            started = self._current.pop(name, None)
            waiting = [t for t in self._assigned.pop(name, []) if t is not started]
            code = proc.exitcode
            self._conns.pop(name).close()
            del self._procs[name]
            self._restarts += 1
            if self._restarts > 3 * len(self._devices):
                self._terminate()
                raise GuiappError(f"batch workers keep dying (last exit code {code}); see the system log")
            self._spawn(name, self._devices[int(name[1:])])
            for task in waiting:
                self._send(name, task)
            if started is not None:
                why = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                row = BatchRow(started.rel, status="error",
                               error=f"the worker process died on this image ({why}; out of memory?)")
                return TaskResult(started, row, worker=name)
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
            for conn in self._conns.values():
                try:
                    conn.send(None)
                except OSError:
                    pass
            for proc in self._procs.values():
                proc.join(timeout=10)
        self._terminate()
        for conn in self._conns.values():
            conn.close()
