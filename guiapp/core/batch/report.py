"""report.csv / report.json of a batch, derived from its journal.

Every file of the folder gets a row, the images not done yet included ("pending"), so the
totals are the folder's whether the run finished, was cancelled or was killed.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..errors import OutputError
from ..strict_json import json_safe, strict_dumps
from .journal import Journal, RunInfo
from .task import BatchRow, spec_target

REPORT_JSON = "report.json"
REPORT_CSV = "report.csv"


BUDGET_SPENT = "out of query budget"  # a run's state when the total query budget left images pending


@dataclass
class BatchSummary:
    total: int  # files in the folder (images and others)
    succeeded: int
    failed: int  # attacked but the target was not reached
    errors: int  # could not be processed (bad file...)
    skipped: int  # non-images (and, with a targets CSV, files it does not list)
    cancelled: bool  # the run did not get through the folder (see `state`)
    seconds: float  # wall-clock time of the run, loading and saving included
    images_per_second: float  # images attacked in this run / seconds
    resumed: int = 0  # of `succeeded`, those done in an earlier run and kept
    resumed_failed: int = 0  # of `failed`, query-mode failures of an earlier run, kept (its victim not asked again)
    pending: int = 0  # images not done (the run was cancelled, stopped or killed)
    # complete | cancelled | stopped (disk-level error) | interrupted (killed) | BUDGET_SPENT
    state: str = "complete"

    @property
    def done(self) -> int:
        return self.succeeded + self.failed + self.errors + self.skipped

    def line(self) -> str:
        state = "" if self.state == "complete" else f" ({self.state})"
        return (
            f"done {self.done}/{self.total}: {self.succeeded} succeeded"
            f"{f' ({self.resumed} in an earlier run)' if self.resumed else ''}, "
            f"{self.failed} failed{f' ({self.resumed_failed} in an earlier run)' if self.resumed_failed else ''}, "
            f"{self.errors} error{'' if self.errors == 1 else 's'}, {self.skipped} skipped"
            f"{f', {self.pending} pending' if self.pending else ''}{state}; "
            # A run that attacked nothing (all kept from an earlier run, or cancelled at once) has no rate.
            + (f"{self.images_per_second:.2f} images/s" if self.images_per_second > 0
               else "no image attacked in this run")
        )


def build_report(journal: Journal) -> tuple[BatchSummary, list[BatchRow], RunInfo | None]:
    """The report rows of the folder as the latest run planned it, and their summary (a
    pending image's target by the name the run wrote down: no model is loaded for it)."""
    run = journal.last_run()
    latest = journal.latest()
    target_names = journal.target_names()
    rows: list[BatchRow] = []
    counts = {"ok": 0, "failed": 0, "error": 0, "skipped": 0, "pending": 0}
    resumed = resumed_failed = 0
    for entry in journal.plan():
        if entry.kind != "image":
            row = BatchRow(entry.input, status="skipped", error=entry.note)
        else:
            found = latest.get(entry.input)
            # Only a result made with this run's settings counts for this run's folder.
            if found is not None and found.key == entry.key:
                row = found.row
                if run is not None and found.run < run.id:
                    resumed += row.status == "ok"
                    resumed_failed += row.status == "failed"
            else:
                row = BatchRow(entry.input, status="pending")
                target = spec_target(entry.spec)
                if target is not None:  # known before the image is attacked
                    row.target = target
                    row.target_name = target_names.get(target, "")
        counts[row.status] = counts.get(row.status, 0) + 1
        rows.append(row)
    state = "complete" if run is None else run.state
    if state == "running":  # nobody holds the lock (the caller does): that run was killed
        state = "interrupted"
    seconds = run.seconds if run else 0.0
    attacked = run.attacked if run else 0
    summary = BatchSummary(
        total=len(rows),
        succeeded=counts["ok"],
        failed=counts["failed"],
        errors=counts["error"],
        skipped=counts["skipped"],
        cancelled=state != "complete" or counts["pending"] > 0,
        seconds=seconds,
        images_per_second=attacked / seconds if attacked and seconds > 0 else 0.0,
        resumed=resumed,
        resumed_failed=resumed_failed,
        pending=counts["pending"],
        state="cancelled" if state == "complete" and counts["pending"] else state,
    )
    return summary, rows, run


def write_reports(journal: Journal, input_dir: str | None = None) -> BatchSummary:
    """Write report.json and report.csv (atomically) from the journal; returns the summary."""
    summary, rows, run = build_report(journal)
    settings = journal.settings_of(run.settings) if run else None
    payload = {
        "input_dir": input_dir or (run.input_dir if run else ""),
        "model": (settings or {}).get("model", ""),
        "config": (settings or {}).get("config", {}),
        "settings": settings or {},
        "summary": asdict(summary),
        "rows": [asdict(r) for r in rows],
    }
    out = journal.out_dir
    # Strict JSON (RFC 8259 has no NaN or Infinity; JSON.parse and most parsers refuse them):
    # a value that does not exist (the PSNR of an image that failed to load) is null.
    _atomic_write(out / REPORT_JSON, strict_dumps(payload, indent=1, default=str))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[f.name for f in fields(BatchRow)])
    writer.writeheader()
    # The same rule as the JSON: a figure that does not exist is an empty cell, not "nan".
    writer.writerows(json_safe(payload["rows"]))
    _atomic_write(out / REPORT_CSV, buf.getvalue())
    return summary


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror}") from exc
