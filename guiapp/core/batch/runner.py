"""The batch driver: plan the folder (folder_plan.py), resume, hand out the images, journal
the results.

What a run does, in order, before any attack: checks the output folder is writable (a
probe file), takes the folder's lock (a second batch on it is refused), removes temp
files a killed run left, plans the folder, and compares it with the journal of earlier
runs (resume.py). Then the images are attacked by one of three executors (this thread, N
worker processes, Ray actors); each finished image is committed to the journal as soon as
its PNG is on disk, and report.csv / report.json are written from the journal at the end,
also after a cancel or a disk-level stop. One bad file never stops the batch; a full disk
does.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..attacks import AttackConfig, strategy_of
from ..errors import GuiappError, OutputError
from ..imageio import MAX_PIXELS
from ..labels import LabelSet
from ..models import Classifier
from ..pipeline import crafting_labels
from ..png_output import probe_writable
from ..threads import requested_threads
from .executors import InlineExecutor, ProcessExecutor, default_group, default_workers, worker_devices
from .folder_plan import FolderPlan
from .journal import Journal
from .outdir import OutputLock, remove_stale_temp_files
from .report import BUDGET_SPENT, BatchSummary, build_report, write_reports
from .resume import ASKED_EARLIER, EARLIER, settings_changed, split_done
from .targets import TargetSpec
from .task import (
    BatchRow,
    ImageTask,
    ModelSpec,
    TaskSettings,
    crafting_identity,
    run_settings,
    settings_key,
    spec_target,
)

MAX_GROUP = 64  # images in one loop: each keeps its own graph, so memory grows with the group


class OutputInsideInputError(OutputError):
    """The output folder is (inside) the input folder and that was not allowed."""


class BatchStoppedError(OutputError):
    """The batch stopped early because the output device failed (full, read-only)."""


@dataclass
class BatchProgress:
    done: int  # files finished, skipped ones included
    total: int  # files in the folder
    row: BatchRow
    elapsed: float
    eta: float  # seconds, from this run's rate; nan before the first image
    succeeded: int = 0  # so far, earlier runs' kept results included
    failed: int = 0
    errors: int = 0


class BatchRunner:
    def __init__(
        self,
        input_dir: str | Path,
        out_dir: str | Path,
        model: Classifier,
        targets: TargetSpec,
        config: Any = None,
        centroids: Any = "auto",
        recursive: bool = False,
        force: bool = False,
        allow_output_in_input: bool = False,
        workers: int | None = 1,
        ray: bool | str = False,
        gpu: bool | None = None,
        max_pixels: int = MAX_PIXELS,
        threads: int | None = None,
        group: int | None = None,
        max_queries_total: int | None = None,
    ) -> None:
        """`workers`: 1 runs in the calling thread with `model`; N > 1 starts N processes
        that load the same model; None picks one per CPU core or per CUDA device.
        `ray`: True starts a local Ray for the run, a string is a cluster address ("auto":
        the running one); `workers` then caps the actors. `gpu` (Ray only): None uses the
        cluster's GPUs when it has any. `group`: images attacked together in one loop by
        the one in-process worker (the transfer mode batches its surrogates' passes across
        them: the same PNGs, faster on a GPU); None: 8 on CUDA in transfer mode, else 1.
        `max_queries_total` (query mode): the questions this run may ask the victim in all;
        an image starts only while its own budget (max_queries) fits in what is left."""
        self.input_dir = Path(input_dir)
        self.out_dir = Path(out_dir)
        if not self.input_dir.is_dir():
            raise GuiappError(f"input folder {self.input_dir} does not exist or is not a folder")
        inp, out = self.input_dir.resolve(), self.out_dir.resolve()
        if not allow_output_in_input and (out == inp or inp in out.parents):
            raise OutputInsideInputError(
                f"output folder {self.out_dir} is "
                f"{'the input folder itself' if out == inp else 'inside the input folder'}"
                f" {self.input_dir}; choose another, or allow outputs inside the input folder"
            )
        if out in inp.parents:
            raise OutputError(
                f"input folder {self.input_dir} is inside the output folder {self.out_dir}: outputs could land "
                "among the inputs; choose an output folder outside it"
            )
        if workers is not None and workers < 1:
            raise GuiappError(f"the number of workers must be at least 1, not {workers}")
        if group is not None and not 1 <= group <= MAX_GROUP:
            raise GuiappError(f"group must be from 1 to {MAX_GROUP} images, not {group}")
        if group is not None and group > 1 and (ray or (workers or 1) > 1):
            raise GuiappError("a group of images runs in one worker: use --group with --workers 1 and without --ray")
        if group is not None and group > 1 and workers is None:
            workers = 1
        self.model, self.targets, self.config = model, targets, config or AttackConfig()
        self.centroids, self.force = centroids, force
        self.folder = FolderPlan(self.input_dir, self.out_dir, recursive)
        self.workers, self.ray, self.gpu = workers, ray, gpu
        self.max_pixels = max_pixels
        if max_queries_total is not None and not hasattr(self.config, "max_queries"):
            raise GuiappError("a total query budget applies to the query mode only (--mode query)")
        self.max_queries_total = max_queries_total
        self.queries_spent = 0  # questions this run asked (query mode)
        self.budget_note: str | None = None  # why images stayed pending, when the total budget ran out
        self.group = group if group is not None else default_group(model.device,
                                                                    strategy_of(self.config).batches_images)
        self.threads = requested_threads(threads)  # per attack, so per worker
        self._stop_after_current = threading.Event()
        self._cancel_now = threading.Event()
        self._executor = None
        self._summary: BatchSummary | None = None
        # Targets name classes of the crafting models' labels (the surrogates' in transfer and
        # query modes, which may be a user's models with labels of their own).
        self.labels = crafting_labels(self.config, model, str(model.device))
        self._fixed_target = self.labels.resolve(targets.label) if targets.label is not None else None
        self._mapping = self._resolve_mapping(self.labels) if targets.mapping is not None else None
        self.removed_temp_files: list[Path] = []
        self.report_error: str | None = None  # why the reports could not be written, if so
        self.workers_used = 0

    def _resolve_mapping(self, labels: LabelSet) -> dict[str, int]:
        resolved, problems = {}, []
        for rel, label in (self.targets.mapping or {}).items():
            try:
                resolved[rel] = labels.resolve(label)
            except GuiappError as exc:
                problems.append(f"{rel}: {exc}")
        if problems:
            raise GuiappError("targets file has bad labels: " + "; ".join(problems[:5]))
        return resolved

    # -- control, callable from any thread ----------------------------------------------
    def stop_after_current(self) -> None:
        """Finish the images in progress, start no more."""
        self._stop_after_current.set()

    def cancel(self) -> None:
        """Stop now: the images in progress are abandoned (nothing written for them)."""
        self._stop_after_current.set()
        self._cancel_now.set()
        if isinstance(self._executor, InlineExecutor):
            self._executor.cancel_now()  # only sets flags: safe from another thread

    # -- planning ------------------------------------------------------------------------
    def plan(self) -> tuple[list[Path], list[Path]]:
        """(candidate image files, non-image files), relative to the input folder, sorted."""
        return self.folder.listing()

    def _spec_text(self, spec: str) -> str:
        index = spec_target(spec)
        return spec if index is None else f"{self.labels[index].name} [{index}]"

    # -- running -------------------------------------------------------------------------
    def run(self) -> Iterator[BatchProgress]:
        start = time.perf_counter()
        self._summary, self.report_error = None, None
        self.folder.check_mapping(self._mapping)
        probe_writable(self.out_dir)  # before any work: read-only, full, or not a folder
        lock = OutputLock(self.out_dir).acquire()
        journal: Journal | None = None
        state, fatal, run_id, attacked = "interrupted", None, None, 0
        settled = 0  # images this run finished, errors included (for the ETA)
        created = False  # this run created the journal
        try:
            self.removed_temp_files = remove_stale_temp_files(self.out_dir)
            created = not Journal.exists(self.out_dir)
            journal = Journal.open(self.out_dir)
            settings = run_settings(self.model, self.config, self.centroids, self.threads)
            run_key = settings_key(settings)
            entries, attackable = self.folder.entries(run_key, self._mapping, self._fixed_target,
                                                      self.targets.random_seed)
            weights = crafting_identity(self.model, self.config)[1]
            todo, kept, mismatched = split_done(attackable, journal.latest(), self.out_dir, weights, self.force)
            if mismatched:
                raise settings_changed(self.out_dir, journal.settings_of(mismatched[0][1].settings) or {}, settings,
                                       mismatched, self._spec_text)
            # Workers (or Ray) start before the run is recorded: if they cannot, nothing changed.
            executor = self._executor = self._make_executor(self._task_settings(), len(todo))
            in_flight, first = 0, None
            try:
                journal.save_settings(run_key, settings)
                named = {t: self.labels[t].name for e in entries if (t := spec_target(e.spec)) is not None}
                run_id = journal.start_run(str(self.input_dir), run_key, entries, named)
                total = len(entries)
                counts = {"ok": 0, "failed": 0, "error": 0}
                done = 0

                def progress(row: BatchRow, eta: float) -> BatchProgress:
                    return BatchProgress(done, total, row, time.perf_counter() - start, eta,
                                         counts["ok"], counts["failed"], counts["error"])

                for entry in entries:
                    if entry.kind != "image":
                        done += 1
                        yield progress(BatchRow(entry.input, status="skipped", error=entry.note), float("nan"))
                for entry, found in kept:
                    done += 1
                    counts[found.status] += 1
                    # With the earlier run's figures (target, result, PSNR), which still hold:
                    # the file on disk was checked to be that run's.
                    # A query-mode failure keeps its status: its victim is not asked again.
                    status, note = (("skipped", EARLIER) if found.status == "ok"
                                    else (found.status, f"{found.row.error} ({ASKED_EARLIER})"))
                    yield progress(replace(found.row, input=entry.input, output=entry.output, status=status,
                                           error=note), float("nan"))

                by_name = {e.input: e for e in todo}
                queue = deque(todo)
                per_image = int(getattr(self.config, "max_queries", 0)) if self.max_queries_total is not None else 0
                self.queries_spent = 0

                def budget_allows() -> bool:
                    # Reserve each image's whole budget while it runs: workers never overspend.
                    return (self.max_queries_total is None
                            or self.queries_spent + (in_flight + 1) * per_image <= self.max_queries_total)

                while True:
                    if self._stop_after_current.is_set() or fatal:
                        executor.stop_starting()
                    while (in_flight < executor.capacity and queue and budget_allows()
                           and not (self._stop_after_current.is_set() or fatal)):
                        entry = queue.popleft()
                        executor.submit(ImageTask(entry.input, entry.output, spec_target(entry.spec),
                                                 self.targets.random_seed, entry.key))
                        in_flight += 1
                        first = first or time.perf_counter()
                    if in_flight == 0:
                        if queue and not budget_allows():
                            assert self.max_queries_total is not None  # only a total budget refuses
                            left = self.max_queries_total - self.queries_spent
                            self.budget_note = (f"the total query budget ({self.max_queries_total} questions, "
                                                f"{self.queries_spent} asked) has {left} left, less than one "
                                                f"image's {per_image}: {len(queue)} image"
                                                f"{'s' if len(queue) != 1 else ''} not attacked (pending)")
                        break
                    result = executor.next_result(self._cancel_now)
                    in_flight -= 1
                    if result.row is None:
                        continue  # cancelled or never started: stays pending
                    # An image that failed mid-run (a victim error) may have asked its whole budget.
                    self.queries_spent += (result.row.queries if result.row.queries is not None
                                           else per_image if result.row.status == "error" else 0)
                    if result.fatal:
                        fatal = fatal or result.fatal  # not recorded: the image stays pending
                        continue
                    # The rate counts images an attack ran on (ok or failed): an unreadable
                    # file's error, settled in a millisecond, is not one (it made a resumed
                    # batch report "183 images/s").
                    crafted = attacked + (result.row.status in ("ok", "failed"))
                    try:
                        journal.record(run_id, by_name[result.task.rel], run_key, result.row, crafted,
                                       time.perf_counter() - start, result.output_digest)
                    except OutputError as exc:
                        fatal = fatal or str(exc)
                        continue
                    attacked = crafted
                    done += 1
                    settled += 1
                    counts[result.row.status] = counts.get(result.row.status, 0) + 1
                    remaining = len(queue) + in_flight
                    eta = (time.perf_counter() - (first or start)) / settled * remaining
                    yield progress(result.row, eta)
            finally:
                self._executor = None
                if in_flight:
                    executor.cancel_now()  # an exception or an abandoned generator: stop the workers
                executor.close()
            if fatal:
                state = "stopped"
            elif done < total and self.budget_note and not self._cancel_now.is_set() \
                    and not self._stop_after_current.is_set():
                state = BUDGET_SPENT
            elif done < total:
                state = "cancelled"
            else:
                state = "complete"
        finally:
            try:
                if journal is not None:
                    self._close_journal(journal, run_id, state, attacked, time.perf_counter() - start, created)
            finally:
                lock.release()
        if fatal:
            pending = self._summary.pending if self._summary else 0
            raise BatchStoppedError(
                f"stopped the batch: {fatal}; {pending} image{'s' if pending != 1 else ''} not attacked. "
                "Make the output folder writable again (free space, permissions), then run the same batch "
                "again to resume"
            )

    def _close_journal(self, journal: Journal, run_id: int | None, state: str, attacked: int, seconds: float,
                       created: bool) -> None:
        """End the run in the journal and write the reports from it (also after a cancel or
        a disk-level stop); a journal this run created for nothing is removed."""
        if run_id is not None:
            try:
                journal.end_run(run_id, state, attacked, seconds)
            except OutputError:
                pass  # a full disk: the run reads as interrupted, the rows are there
            try:
                self._summary = write_reports(journal, str(self.input_dir))
            except OutputError as exc:
                self.report_error = str(exc)
                self._summary = build_report(journal)[0]
        journal.close()
        if created and run_id is None:
            # Nothing ran (workers or Ray could not start, a bad setting): leave the folder as
            # it was, not with a journal of no run in it.
            for suffix in ("", "-wal", "-shm"):
                Path(f"{journal.path}{suffix}").unlink(missing_ok=True)

    def _task_settings(self) -> TaskSettings:
        return TaskSettings(str(self.input_dir), str(self.out_dir), ModelSpec.of(self.model), self.config,
                           self.centroids, threads=self.threads, max_pixels=self.max_pixels)

    def _make_executor(self, settings: TaskSettings, tasks: int):
        if self.ray:
            from .ray_executor import RayExecutor

            address = None if self.ray is True else str(self.ray)
            executor = RayExecutor(settings, address, self.workers, self.gpu)
            self.workers_used = executor.workers
            return executor
        if self.workers is None:
            # A worker process takes seconds to start (torch, the model): worth it from
            # about 8 images per worker on.
            n = min(default_workers(self.model.device), tasks // 8)
        else:
            n = self.workers
        n = max(1, min(n, tasks))
        self.workers_used = n
        if n == 1:
            return InlineExecutor(settings, self.model, self.group)
        return ProcessExecutor(settings, worker_devices(self.model.device, n))

    def summary(self) -> BatchSummary:
        """The folder's totals as the last run left them (after `run()` has finished)."""
        if self._summary is None:
            raise GuiappError("the batch has not run yet")
        return self._summary
