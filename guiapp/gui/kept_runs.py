"""The window's side of run_store: the History kept across restarts (issue 34 item 1).

- A finished run is written (its PNG and pixels) in a worker of its own kind, which
  opening another image never drops, then its image's index is written.
- Opening an image reads its kept runs back in a worker; runs made meanwhile are numbered
  after them, and only then may the index be written (else it would drop the kept ones).
- Leaving an image lets its runs go from memory once they are all on disk (`release`).
- Leaving an image, saving a run and closing the window (once its workers have stopped, so
  a run written just then is listed) write the indexes again, so what the runs gained
  after they were written (figures, judges, where they were saved, "don't ask") stays.
A History folder that cannot be written costs the runs' future, never the session: a
failure is logged and the runs stay in memory.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from . import run_store
from .jobs import Jobs
from .session import ImageRuns, RunEntry, Session

log = logging.getLogger(__name__)


class KeptRuns:
    """Writes the session's runs to the History folder and reads them back (run_store),
    in the window's workers (`jobs`); `settings` names the folder."""

    def __init__(self, session: Session, jobs: Jobs, settings: Any) -> None:
        self.session, self.jobs, self.settings = session, jobs, settings

    def _directory(self, runs: ImageRuns) -> Path:
        return run_store.image_folder(run_store.folder(self.settings), Path(runs.path))

    def read_back(self, runs: ImageRuns, image: Any) -> None:
        """The runs of `image` kept from earlier sessions, into `runs` (once per image)."""
        if runs.read:
            return
        directory = self._directory(runs)

        def done(outcome: tuple[str, list[dict]]) -> None:
            runs.digest, records = outcome
            self.session.restore(runs, [RunEntry(**record) for record in records])
            self.write(runs)  # with the runs made while they were read

        # A kind of its own per image, never dropped: until it is done, the index is not written.
        self.jobs.run(f"history {runs.path}", lambda: run_store.read_runs(directory, image), done,
                      message="Reading this image's History…")

    def keep(self, entry: RunEntry) -> None:
        """Write a finished run of the image shown (a run never outlives its image)."""
        runs = self.session.runs
        directory = self._directory(runs)

        def work() -> str:
            run_store.write_run(directory, entry)
            return runs.digest or run_store.digest(entry.run.plan.image.rgb)

        def done(image_digest: str) -> None:
            runs.digest = image_digest
            self.write(runs)
            if runs is not self.session.runs:
                self.release(runs)  # its image was left while this was written

        def failed(message: str) -> None:
            log.warning("run #%s not kept in the History folder: %s", entry.number, message.splitlines()[0])

        # A kind of its own: another image opening, or the next run, must not drop it.
        self.jobs.run(f"keep {entry.made}", work, done, failed)

    def is_kept(self, entry: RunEntry) -> bool:
        """Is the run on disk, or being written (it comes back after a restart)? The window
        writes the indexes once its workers have stopped, a run being written included."""
        if self.jobs.running(f"keep {entry.made}"):
            return True
        runs = self.session.runs_holding(entry)
        return runs is not None and run_store.run_files(self._directory(runs), entry.made)[0].exists()

    def write(self, runs: ImageRuns) -> None:
        """The index of one image, once its kept runs are read back and its digest is known."""
        if not runs.read or not runs.digest:
            return
        try:
            run_store.write_index(self._directory(runs), runs.path, runs.digest, runs.entries)
        except OSError:  # a full disk, a read-only folder: the session goes on with what it has in memory
            log.exception("could not write the History index of %s", runs.path)

    def release(self, runs: ImageRuns) -> None:
        """The image left: if every run of it is on disk, let the memory go (a run holds its
        image-sized result; 30 runs of a 12-megapixel photo are a gigabyte). Opening the
        image again reads them back. Runs that could not be written stay in memory."""
        directory = self._directory(runs)
        on_disk = all(run_store.run_files(directory, e.made)[0].exists() and not self.jobs.running(f"keep {e.made}")
                      for e in runs.entries)
        if runs.read and runs.entries and on_disk:
            runs.entries, runs.read = [], False

    def write_all(self) -> None:
        for runs in self.session.images.values():
            self.write(runs)
