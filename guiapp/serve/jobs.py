"""Attack jobs: state, progress, cancellation, expiry, and what they keep on disk.

A job is queued -> running -> done | failed | cancelled. Its files (the upload and the
PNG) live in a private folder under the server's temp root. A job that fails or is
cancelled loses its files at once (its record, with the error, stays for `ttl` seconds);
a done job keeps only its PNG until it expires, `ttl` seconds after it finished, or is
deleted. The store holds at most `max_jobs` jobs and its files count against the
server's byte budget (storage.Budget): when either is short, the oldest finished jobs are
forgotten first. Ids are random and unguessable: knowing one is what lets a client see a
job. A cancel takes effect for the client at once, whatever the attack is doing; the
worker stops at the next stop point inside the step it is in (core/stop_points.py).
"""

from __future__ import annotations

import math
import secrets
import shutil
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.attacks import StepRecord
from .errors import ApiError
from .options import AttackRequest
from .storage import Budget

FINISHED = ("done", "failed", "cancelled")


def finite(value: float) -> float | None:
    """JSON has no NaN/inf: 'not yet' and 'unchanged' become null."""
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Progress:
    step: int
    max_steps: int
    phase: str
    target_conf: float
    source_conf: float
    linf: float
    psnr: float | None
    best_psnr: float | None

    @classmethod
    def from_record(cls, record: StepRecord, max_steps: int) -> Progress:
        return cls(
            record.step, max_steps, record.phase, record.target_conf, record.source_conf,
            record.linf, finite(record.psnr), finite(record.best_psnr),
        )


class Job:
    def __init__(self, request: AttackRequest, workdir: Path, upload: Path, filename: str,
                 reserved: int = 0) -> None:
        self.id = secrets.token_urlsafe(16)
        self.reserved = reserved  # bytes of the budget this job holds (its upload, then its PNG)
        self.finished_event = threading.Event()
        self.request = request
        self.workdir = workdir
        self.upload = upload
        self.filename = filename
        self.state = "queued"
        self.created = time.time()
        self.started: float | None = None
        self.finished: float | None = None
        self.progress: Progress | None = None
        self.report: dict[str, Any] | None = None
        self.error: ApiError | None = None
        self.png: Path | None = None
        self.future: Future | None = None
        self._lock = threading.Lock()
        self._attack: Any = None  # the running attack object, for cancel()
        # Set by a cancel: the worker runs the job under stopping_on(stop), so it stops at the
        # next stop point inside its step, not at the step's end (core/stop_points.py).
        self.stop = threading.Event()

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED

    def start(self) -> bool:
        """Worker side: False if the job was cancelled before a worker picked it up."""
        with self._lock:
            if self.stop.is_set():
                self._finish("cancelled")
                return False
            self.state = "running"
            self.started = time.time()
            return True

    def attach(self, attack: Any) -> None:
        """Worker side: the attack object; a cancel that came first applies at once."""
        with self._lock:
            self._attack = attack
            if self.stop.is_set():
                attack.cancel()

    def cancel(self, error: ApiError | None = None) -> None:
        """Cancelled (or, with `error`, failed) now, for the client; the attack stops at its
        next stop point (inside its step) and its result, if any, is dropped."""
        with self._lock:
            if self.is_finished:
                return
            self.stop.set()
            if self._attack is not None:
                self._attack.cancel()
            if self.state == "running":
                self.error = error
                self._finish("failed" if error is not None else "cancelled")
        # Still queued: the worker never starts it (the pool frees its slot at once).
        if self.future is not None and self.future.cancel():
            with self._lock:
                self._finish("cancelled")

    def succeed(self, report: dict[str, Any], png: Path) -> bool:
        """False if the job was cancelled meanwhile (the result is dropped)."""
        with self._lock:
            if self.is_finished:
                return False
            self.report, self.png = report, png
            self._finish("done")
            return True

    def fail(self, error: ApiError) -> None:
        with self._lock:
            if not self.is_finished:
                self.error = error
                self._finish("failed")

    def _finish(self, state: str) -> None:
        if not self.is_finished:
            self.state = state
            self.finished = time.time()
            self._attack = None
            self.finished_event.set()

    def to_json(self, ttl: float) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "state": self.state,
            "input": self.filename,
            "target": self.request.target,
            "target_name": self.request.target_name,
            "mode": self.request.config.mode,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "expires_at": self.finished + ttl if self.finished is not None else None,
            "progress": self.progress.__dict__ if self.progress else None,
            "report": self.report,
            "error": {"status": self.error.status, "error": self.error.code, "message": self.error.message}
            if self.error
            else None,
            "image_url": f"/v1/jobs/{self.id}/image.png" if self.state == "done" else None,
        }
        return data


class JobStore:
    def __init__(self, ttl: float, max_jobs: int = 256, budget: Budget | None = None) -> None:
        self.ttl = ttl
        self.max_jobs = max_jobs
        self.budget = budget or Budget(1 << 62)
        self.budget.make_room = self.make_room
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def add(self, job: Job) -> None:
        """Keep a new job; the oldest finished ones are forgotten when the store is full."""
        self.reap()
        with self._lock:
            excess = len(self._jobs) + 1 - self.max_jobs
        if excess > 0:
            self._forget_oldest_finished(count=excess)
        with self._lock:
            if len(self._jobs) >= self.max_jobs:
                raise ApiError(429, "too_many_jobs", f"the server keeps at most {self.max_jobs} jobs and none "
                               "has finished; retry later", headers={"Retry-After": "30"})
            self._jobs[job.id] = job

    def get(self, job_id: str) -> Job:
        self.reap()
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(404, "unknown_job", f"no job {job_id[:64]!r} (finished jobs are kept up to {self.ttl:g} s)")
        return job

    def remove(self, job: Job) -> None:
        with self._lock:
            self._jobs.pop(job.id, None)
        self.free_files(job)

    def free_files(self, job: Job) -> None:
        """Delete a job's folder and give its bytes back to the budget (idempotent)."""
        shutil.rmtree(job.workdir, ignore_errors=True)
        with job._lock:
            reserved, job.reserved = job.reserved, 0
        self.budget.release(reserved)

    def settle(self, job: Job) -> None:
        """Worker side, when the attack has returned: a done job keeps its PNG only (its
        upload goes), any other loses its files now."""
        if job.state == "done":
            job.upload.unlink(missing_ok=True)
            png = job.png.stat().st_size if job.png is not None and job.png.exists() else 0
            with self._lock:  # against a concurrent remove(): either it frees the PNG's bytes, or we do
                kept = job.id in self._jobs
                if kept:
                    with job._lock:
                        released, job.reserved = job.reserved, png
            if kept:
                self.budget.release(released)
                self.budget.add(png)  # may forget older jobs, so outside the store's lock
                return
        self.free_files(job)

    def make_room(self, nbytes: int) -> None:
        """Forget the oldest finished jobs until `nbytes` are free (or none is left)."""
        self._forget_oldest_finished(nbytes=nbytes)

    def _forget_oldest_finished(self, count: int = 0, nbytes: int = 0) -> None:
        with self._lock:
            finished = sorted((j for j in self._jobs.values() if j.finished is not None), key=lambda j: j.finished or 0)
        freed = 0
        for n, job in enumerate(finished):
            if n >= count and freed >= nbytes:
                break
            freed += job.reserved
            self.remove(job)

    def reap(self, now: float | None = None) -> int:
        """Forget finished jobs older than the ttl and delete their files."""
        now = time.time() if now is None else now
        with self._lock:
            old = [j for j in self._jobs.values() if j.finished is not None and now - j.finished > self.ttl]
        for job in old:
            self.remove(job)
        return len(old)

    def unfinished(self) -> list[Job]:
        with self._lock:
            return [j for j in self._jobs.values() if not j.is_finished]

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)
