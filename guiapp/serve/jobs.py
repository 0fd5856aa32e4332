"""Attack jobs: state, progress, cancellation and expiry.

A job is queued -> running -> done | failed | cancelled. Its files (the upload and the
PNG) live in a private folder that is deleted when the job expires, `ttl` seconds after
it finished, or when it is deleted. Ids are random and unguessable: knowing one is what
lets a client see a job.
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
    def __init__(self, request: AttackRequest, workdir: Path, upload: Path, filename: str) -> None:
        self.id = secrets.token_urlsafe(16)
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
        self._cancel_requested = False

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED

    def start(self) -> bool:
        """Worker side: False if the job was cancelled before a worker picked it up."""
        with self._lock:
            if self._cancel_requested:
                self._finish("cancelled")
                return False
            self.state = "running"
            self.started = time.time()
            return True

    def attach(self, attack: Any) -> None:
        """Worker side: the attack object; a cancel that came first applies at once."""
        with self._lock:
            self._attack = attack
            if self._cancel_requested:
                attack.cancel()

    def cancel(self) -> None:
        with self._lock:
            if self.is_finished:
                return
            self._cancel_requested = True
            if self._attack is not None:
                self._attack.cancel()  # takes effect within one step
        # Still queued: the worker never starts it (the pool frees its slot at once).
        if self.future is not None and self.future.cancel():
            with self._lock:
                self._finish("cancelled")

    def succeed(self, report: dict[str, Any], png: Path) -> None:
        with self._lock:
            self.report, self.png = report, png
            self._finish("done")

    def fail(self, error: ApiError) -> None:
        with self._lock:
            self.error = error
            self._finish("failed")

    def mark_cancelled(self) -> None:
        with self._lock:
            self._finish("cancelled")

    def _finish(self, state: str) -> None:
        if not self.is_finished:
            self.state = state
            self.finished = time.time()
            self._attack = None

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
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def add(self, job: Job) -> None:
        with self._lock:
            self._jobs[job.id] = job

    def get(self, job_id: str) -> Job:
        self.reap()
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(404, "unknown_job", f"no job {job_id!r} (finished jobs are kept {self.ttl:g} s)")
        return job

    def remove(self, job: Job) -> None:
        with self._lock:
            self._jobs.pop(job.id, None)
        shutil.rmtree(job.workdir, ignore_errors=True)

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
