"""The loaded model and the work done with it for requests, all of it on worker threads.

An attack is `guiapp.core.pipeline.attack_file` into the job's private folder: the same code,
the same PNG bytes and the same re-read-from-disk success check as `guiapp-cli attack`.
The client's (sanitised) file name is passed as the PNG's "source" metadata, which is
what the CLI writes for a file of that name, so the bytes are identical.

Before a request is queued, the engine checks what it can from the image's header: the
memory the attack (or the prediction) needs, at the size the models really process
(guiapp.core.fits), and that every model the attack crafts on is installed here (a
client never makes the server download anything). A running attack that passes
`--attack-timeout` fails at once for its client; its worker stops at the next stop point inside its step.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import torch

from ..core.attack_report import AttackReport
from ..core.attacks import StepRecord, config_dict, strategy_of
from ..core.errors import Cancelled, GuiappError
from ..core.fits import memory_estimate
from ..core.memory import check_memory
from ..core.models import Classifier, available_models, model_status
from ..core.pipeline import attack_file
from ..core.predict import Prediction, load_for_prediction, predict_estimate, predict_image
from ..core.stop_points import stopping_on
from .errors import ApiError, from_guiapp_error
from .jobs import Job, JobStore, Progress, finite
from .options import AttackRequest
from .pool import WorkerPool
from .settings import ServeSettings
from .storage import Budget, TempRoot

log = logging.getLogger("guiapp.serve")
OUTPUT_NAME = "adversarial.png"


def client_report(report: AttackReport, job: Job) -> dict[str, Any]:
    """The attack report as a client sees it: no server paths, JSON-safe numbers."""
    data = report.to_dict()
    data.pop("output")
    data["input"] = job.filename
    data["mode"] = job.request.config.mode
    data["config"] = config_dict(job.request.config)
    return {k: finite(v) if isinstance(v, float) else v for k, v in data.items()}


class Engine:
    def __init__(self, model: Classifier, settings: ServeSettings, temp_parent: Path | None = None) -> None:
        self.model = model
        self.settings = settings
        # Priors for Retry-After until the first task is timed: a small attack, a prediction.
        self.attacks = WorkerPool(settings.workers, settings.max_queue, "attack", typical_seconds=5.0)
        # Predictions take milliseconds; their own pool keeps them from queueing behind attacks.
        self.predictions = WorkerPool(settings.workers, settings.max_queue, "predict", typical_seconds=0.5)
        self.budget = Budget(settings.max_disk_bytes)
        self.jobs = JobStore(settings.job_ttl_s, settings.max_jobs, self.budget)
        self.temp = TempRoot(temp_parent)
        self.root: Path | None = None
        self.started = time.time()
        self._installed: frozenset[str] | None = None

    def start(self) -> None:
        # A fresh folder only this user can read (every request gets one inside it); roots
        # that killed servers left behind are deleted first.
        self.root = self.temp.open()
        for orphan in self.temp.removed_orphans:
            log.info("removed %s, left by a server that did not stop cleanly", orphan)

    def workdir(self) -> Path:
        if self.root is None:
            raise ApiError(503, "not_ready", "the server is not running", headers={"Retry-After": "5"})
        return Path(tempfile.mkdtemp(dir=self.root))

    def stop_accepting(self) -> None:
        """First step of a shutdown: refuse new work and cancel what is queued or running
        (for their clients at once), so open requests can be answered quickly."""
        self.attacks.close()
        self.predictions.close()
        for job in self.jobs.unfinished():
            job.cancel()

    def stop(self, wait_s: float | None = None) -> bool:
        """Stop, waiting up to `wait_s` seconds (None: as long as it takes) for steps in
        progress; True if every worker is idle. The temp root goes either way."""
        self.stop_accepting()
        idle = self.attacks.shutdown(wait_s) & self.predictions.shutdown(wait_s)
        self.root = None
        self.temp.close()
        return idle

    # -- checks before a request is queued -----------------------------------------------

    def installed(self) -> frozenset[str]:
        """Models whose weights are on this machine (the server never downloads any)."""
        if self._installed is None:
            self._installed = frozenset({self.model.name} | {n for n in available_models() if model_status(n)[0]})
        return self._installed

    def check_attack(self, request: AttackRequest, width: int, height: int) -> None:
        """422 for a model that is not installed, 413 for an attack that would not fit in
        memory now (at the size the models process), both before the job is queued."""
        config = request.config
        missing = [n for n in strategy_of(config).crafter_names(config, self.model.name) if n not in self.installed()]
        if missing:
            raise ApiError(422, "model_unavailable",
                           f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed on this server; "
                           f"installed: {', '.join(sorted(self.installed()))}")
        try:
            check_memory(memory_estimate(config, self.model), width, height, self.model.device,
                         f"a {config.mode} attack", self.settings.max_request_bytes, "--max-request-mb")
        except GuiappError as exc:
            raise from_guiapp_error(exc) from None

    def check_predict(self, width: int, height: int) -> None:
        try:
            check_memory(predict_estimate(self.model), width, height, self.model.device, "a classification",
                         self.settings.max_request_bytes, "--max-request-mb")
        except GuiappError as exc:
            raise from_guiapp_error(exc) from None

    # -- attacks ---------------------------------------------------------------------

    def submit_attack(self, request: AttackRequest, workdir: Path, upload: Path, filename: str,
                      reserved: int = 0) -> Job:
        job = Job(request, workdir, upload, filename, reserved)
        self.jobs.add(job)  # 429 when the store is full of unfinished jobs
        try:
            job.future = self.attacks.submit(lambda: self._run(job))  # QueueFull/PoolClosed propagate
        except BaseException:
            job.reserved = 0  # the caller still owns the upload's bytes, and releases them
            self.jobs.remove(job)
            raise
        # A job dropped from the queue (a DELETE, a client gone, a shutdown) never reaches
        # _run, whose `finally` frees the files of every job that ran: free them here, at
        # once, instead of when the reaper forgets the job (issue 33 item 4).
        def free_if_dropped(future: Future) -> None:
            if future.cancelled():
                self.jobs.settle(job)

        job.future.add_done_callback(free_if_dropped)
        return job

    def _centroids(self, request: AttackRequest) -> str | None:
        return self.settings.centroids if request.centroids == "auto" else None

    def _run(self, job: Job) -> None:
        if not job.start():
            self.jobs.settle(job)
            return
        config = job.request.config
        max_steps = strategy_of(config).step_budget(config)
        timeout = self.settings.attack_timeout_s
        # A watchdog, not a check between steps: a step that runs long still times out on time.
        watchdog = threading.Timer(timeout, lambda: job.cancel(ApiError(
            503, "timeout", f"the attack took over {timeout:g} s and was stopped")))
        watchdog.daemon = True
        watchdog.start()

        def on_step(record: StepRecord) -> None:
            job.progress = Progress.from_record(record, max_steps)

        try:
            with stopping_on(job.stop):
                report = attack_file(
                    job.upload,
                    job.request.target,
                    job.workdir / OUTPUT_NAME,
                    model=self.model,
                    device=str(self.model.device),  # where transfer mode loads its surrogates
                    config=config,
                    centroids=self._centroids(job.request),
                    on_step=on_step,
                    attack_hook=job.attach,
                    metadata={"source": job.filename},
                    max_pixels=self.settings.max_pixels,
                )
        except Cancelled:  # stopped at a stop point: the job is already cancelled or failed for its client
            job.cancel()
        except GuiappError as exc:
            job.fail(from_guiapp_error(exc))
        except (MemoryError, torch.OutOfMemoryError):
            # The memory check passed but other work took the room meanwhile: may pass later.
            job.fail(ApiError(503, "out_of_memory", "out of memory for this image right now",
                              headers={"Retry-After": "30"}))
        except Exception as exc:  # a bug: keep the worker alive and say so in the job
            log.exception("attack job %s failed", job.id)
            job.fail(ApiError(500, "internal", f"internal error ({type(exc).__name__}); see the server log"))
        else:
            if report.cancelled or report.output is None:
                job.cancel()  # already cancelled or timed out for its client: no-op then
            else:
                job.succeed(client_report(report, job), Path(report.output))
        finally:
            watchdog.cancel()
            self.jobs.settle(job)  # a failed or cancelled job's files go now, a done one keeps its PNG

    # -- predictions -----------------------------------------------------------------

    def predict(self, upload: Path, k: int) -> list[Prediction]:
        """Runs on a worker thread (decoding and the forward pass)."""
        return predict_image(self.model, load_for_prediction(upload, self.model, self.settings.max_pixels), k)
