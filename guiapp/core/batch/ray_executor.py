"""Ray executor: the same per-image task as the local workers, run by Ray actors.

Each actor loads its model once (on its own node) and attacks one image at a time; the
driver (the `guiapp-cli batch` process) hands out tasks and keeps the journal, so resume,
cancel and the report work exactly as on one machine. Inputs are read and PNGs written
by the actors, so on a cluster the input and output folders must be on a file system
every node sees at the same path. Needs the `cluster` extra (`pip install -e '.[cluster]'`).
"""

from __future__ import annotations

import logging
import signal
import threading

from ...install_hints import extra_hint
from ..errors import GuiappError
from .executors import POLL_S
from .task import BatchRow, ImageTask, TaskResult, TaskRunner, TaskSettings, set_torch_threads


class _BatchActor:
    """Wrapped by ray.remote at run time (so importing this module needs no Ray)."""

    def __init__(self, settings: TaskSettings, device: str) -> None:
        self.settings, self.device = settings, device
        self.runner: TaskRunner | None = None

    def ready(self) -> str | None:
        """Load the model; returns an error message instead of dying, for a clear report."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C
        set_torch_threads(self.settings.threads)
        try:
            self.runner = TaskRunner(self.settings, device=self.device)
        except GuiappError as exc:
            return str(exc)
        return None

    def run(self, task: ImageTask) -> TaskResult:
        assert self.runner is not None, "ready() first"
        return self.runner.run(task)


def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise GuiappError(f"Ray is not installed: {extra_hint('cluster')}") from exc
    return ray


class RayExecutor:
    """One actor per CPU (or per GPU) of the cluster, or `workers` actors."""

    def __init__(self, settings: TaskSettings, address: str | None, workers: int | None, gpu: bool | None) -> None:
        ray = self._ray = _import_ray()
        self._owns_ray = False
        if not ray.is_initialized():
            try:
                if address:
                    ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True)
                else:  # a Ray of our own for this run, sized to the workers asked for
                    ray.init(num_cpus=workers, include_dashboard=False, logging_level=logging.WARNING)
            except ConnectionError as exc:
                # Ray's own text advises flags of its own CLI (--address), not guiapp's.
                where = "running on this machine" if address == "auto" else f"at {address}"
                raise GuiappError(f"no Ray cluster is {where}: start one (ray start --head) or name its address "
                                  "(--ray HOST:6379); --ray alone starts a Ray of its own for this run") from exc
            self._owns_ray = True
        resources = ray.cluster_resources()
        use_gpu = bool(resources.get("GPU", 0)) if gpu is None else gpu
        if use_gpu and not resources.get("GPU", 0):
            raise GuiappError("CUDA was asked for, but the Ray cluster has no GPU")
        n = workers or max(1, int(resources.get("GPU" if use_gpu else "CPU", 1)))
        actor_class = ray.remote(num_cpus=1, num_gpus=1 if use_gpu else 0)(_BatchActor)
        # Ray sets CUDA_VISIBLE_DEVICES per actor: its one GPU is always cuda:0.
        self._actors = [actor_class.remote(settings, "cuda:0" if use_gpu else "cpu") for _ in range(n)]
        errors = [e for e in ray.get([a.ready.remote() for a in self._actors]) if e]
        if errors:
            self.close()
            raise GuiappError(f"a Ray worker could not start: {errors[0]}")
        # One task per actor: a stop request then leaves nothing queued on the actors.
        self.capacity = n
        self._idle = list(range(n))
        self._refs: dict = {}  # ObjectRef -> (task, actor index)
        self._stopping = False

    @property
    def workers(self) -> int:
        return len(self._actors)

    def submit(self, task: ImageTask) -> None:
        index = self._idle.pop()
        self._refs[self._actors[index].run.remote(task)] = (task, index)

    def next_result(self, cancel: threading.Event) -> TaskResult:
        ray = self._ray
        while True:
            if cancel.is_set() and not self._stopping:
                self.cancel_now()
            if not self._refs:
                raise RuntimeError("no task outstanding")
            ready, _ = ray.wait(list(self._refs), num_returns=1, timeout=POLL_S)
            if ready:
                break
        task, index = self._refs.pop(ready[0])
        try:
            result = ray.get(ready[0])
        except ray.exceptions.RayActorError as exc:
            if self._stopping:
                return TaskResult(task, None)
            # A lost node or an out-of-memory kill: this image gets an error row, the
            # actor is not used again, the others go on.
            self.capacity -= 1
            if self.capacity == 0:
                raise GuiappError(f"every Ray worker died (last: {exc}); run the same command again to resume") from exc
            return TaskResult(task, BatchRow(task.rel, status="error", error="the Ray worker died on this image"))
        self._idle.append(index)
        return result

    def stop_starting(self) -> None:
        pass  # nothing is queued beyond the images in progress

    def cancel_now(self) -> None:
        self._stopping = True
        for actor in self._actors:
            self._ray.kill(actor)

    def close(self) -> None:
        for actor in self._actors:
            try:
                self._ray.kill(actor)
            except Exception:  # already dead
                pass
        if self._owns_ray:
            self._ray.shutdown()
