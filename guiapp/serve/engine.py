"""The loaded model and the work done with it for requests, all of it on worker threads.

An attack is `guiapp.core.pipeline.attack_file` into the job's private folder: the same code,
the same PNG bytes and the same re-read-from-disk success check as `guiapp-cli attack`.
The client's (sanitised) file name is passed as the PNG's "source" metadata, which is
what the CLI writes for a file of that name, so the bytes are identical.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from ..core.attacks import StepRecord, config_dict, strategy_of
from ..core.errors import GuiappError
from ..core.imageio import load_image
from ..core.models import Classifier
from ..core.pipeline import AttackReport, attack_file
from ..core.predict import Prediction, predict_image
from .errors import ApiError, from_guiapp_error
from .jobs import Job, JobStore, Progress, finite
from .options import AttackRequest
from .pool import WorkerPool
from .settings import ServeSettings

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
    def __init__(self, model: Classifier, settings: ServeSettings) -> None:
        self.model = model
        self.settings = settings
        # Priors for Retry-After until the first task is timed: a small attack, a prediction.
        self.attacks = WorkerPool(settings.workers, settings.max_queue, "attack", typical_seconds=5.0)
        # Predictions take milliseconds; their own pool keeps them from queueing behind attacks.
        self.predictions = WorkerPool(settings.workers, settings.max_queue, "predict", typical_seconds=0.5)
        self.jobs = JobStore(settings.job_ttl_s)
        self.root: Path | None = None
        self.started = time.time()

    def start(self) -> None:
        # mkdtemp: a fresh folder only this user can read; every request gets one inside it.
        self.root = Path(tempfile.mkdtemp(prefix="guiapp-serve-"))

    def workdir(self) -> Path:
        if self.root is None:
            raise ApiError(503, "not_ready", "the server is not running", headers={"Retry-After": "5"})
        return Path(tempfile.mkdtemp(dir=self.root))

    def stop_accepting(self) -> None:
        """First step of a shutdown: refuse new work and cancel what is queued or running
        (an attack stops within one step), so open requests can be answered quickly."""
        self.attacks.close()
        self.predictions.close()
        for job in self.jobs.unfinished():
            job.cancel()

    def stop(self) -> None:
        self.stop_accepting()
        self.attacks.shutdown()
        self.predictions.shutdown()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    # -- attacks ---------------------------------------------------------------------

    def submit_attack(self, request: AttackRequest, workdir: Path, upload: Path, filename: str) -> Job:
        job = Job(request, workdir, upload, filename)
        job.future = self.attacks.submit(lambda: self._run(job))  # QueueFull/PoolClosed propagate
        self.jobs.add(job)
        return job

    def _centroids(self, request: AttackRequest) -> str | None:
        return self.settings.centroids if request.centroids == "auto" else None

    def _run(self, job: Job) -> None:
        if not job.start():
            return
        config = job.request.config
        max_steps = strategy_of(config).step_budget(config)
        deadline = time.monotonic() + self.settings.attack_timeout_s
        timed_out = False

        def on_step(record: StepRecord) -> None:
            nonlocal timed_out
            job.progress = Progress.from_record(record, max_steps)
            if time.monotonic() > deadline and not timed_out:
                timed_out = True
                job.cancel()

        try:
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
            if timed_out:
                job.fail(ApiError(503, "timeout",
                                  f"the attack took over {self.settings.attack_timeout_s:g} s and was stopped"))
            elif report.cancelled or report.output is None:
                job.mark_cancelled()
            else:
                job.succeed(client_report(report, job), Path(report.output))

    # -- predictions -----------------------------------------------------------------

    def predict(self, upload: Path, k: int) -> list[Prediction]:
        """Runs on a worker thread (decoding and the forward pass)."""
        return predict_image(self.model, load_image(upload, self.settings.max_pixels), k)
