"""The batch journal: an append-only SQLite log of finished images in the output folder.

One row per finished image, committed as soon as its PNG is on disk, so a crash or a
SIGKILL loses at most the images in flight, and the bookkeeping per image stays constant
however large the folder is (the old runner rewrote the whole report after every image).
The reports (report.csv / report.json) are derived from it at the end of a run, on
Ctrl-C, and by `guiapp-cli batch-report OUT`.

WAL mode with synchronous=NORMAL: a commit survives the process being killed (the OS has
the data); only a power loss can drop the last few commits, which resume then redoes.
Only the batch's driver process ever opens the journal (workers return their rows).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import OutputError
from .task import BatchRow, OutputDigest

JOURNAL_NAME = ".guiapp-journal.sqlite"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs(
    id INTEGER PRIMARY KEY, started REAL, ended REAL, state TEXT, input_dir TEXT,
    settings TEXT, total INTEGER, attacked INTEGER DEFAULT 0, seconds REAL DEFAULT 0);
-- The folder as the latest run found it: every file gets a report row, done or not.
CREATE TABLE IF NOT EXISTS plan(
    input TEXT PRIMARY KEY, output TEXT, kind TEXT, note TEXT, key TEXT, spec TEXT,
    size INTEGER, mtime INTEGER);
-- Append-only: a redone image gets a new row; the latest row per input counts.
CREATE TABLE IF NOT EXISTS results(
    seq INTEGER PRIMARY KEY, run INTEGER, input TEXT NOT NULL, key TEXT, spec TEXT, settings TEXT,
    size INTEGER, mtime INTEGER, status TEXT, row TEXT NOT NULL, at REAL,
    out_sha256 TEXT, out_size INTEGER);
CREATE INDEX IF NOT EXISTS results_by_input ON results(input, seq);
"""
# Columns added to `results` after version 1 was released. Added in place when missing
# (older guiapp versions name their columns and never see these, so the schema version
# stays 1); rows written without them are checked by decoding the PNG on resume instead.
_ADDED_RESULT_COLUMNS = {"out_sha256": "TEXT", "out_size": "INTEGER"}

_ROW_FIELDS = [f.name for f in fields(BatchRow)]


@dataclass(frozen=True)
class PlanEntry:
    input: str
    output: str
    kind: str  # image | other (not an image by extension) | unlisted (not in the targets CSV)
    note: str = ""
    key: str = ""
    spec: str = ""
    size: int = -1
    mtime: int = -1


@dataclass(frozen=True)
class Finished:
    """The latest journal row of one input."""

    run: int
    key: str
    spec: str
    settings: str
    size: int
    mtime: int
    status: str
    row: BatchRow
    out_sha256: str = ""  # the output PNG as written ("" in rows of older versions)
    out_size: int = -1


@dataclass(frozen=True)
class RunInfo:
    id: int
    started: float
    ended: float | None
    state: str  # running (or killed, when found later) | complete | cancelled | stopped
    input_dir: str
    settings: str
    total: int
    attacked: int
    seconds: float


def row_from_json(text: str) -> BatchRow:
    data = json.loads(text)
    return BatchRow(**{k: data[k] for k in _ROW_FIELDS if k in data})


class Journal:
    def __init__(self, out_dir: Path, conn: sqlite3.Connection) -> None:
        self.out_dir, self.path, self.conn = out_dir, out_dir / JOURNAL_NAME, conn

    @classmethod
    def exists(cls, out_dir: str | Path) -> bool:
        return (Path(out_dir) / JOURNAL_NAME).is_file()

    @classmethod
    def open(cls, out_dir: str | Path) -> "Journal":
        out_dir = Path(out_dir)
        path = out_dir / JOURNAL_NAME
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            have = {r[1] for r in conn.execute("PRAGMA table_info(results)")}
            for column, kind in _ADDED_RESULT_COLUMNS.items():
                if column not in have:
                    conn.execute(f"ALTER TABLE results ADD COLUMN {column} {kind}")
            version = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if version is None:
                conn.execute("INSERT INTO meta VALUES('schema', ?)", (str(SCHEMA_VERSION),))
            elif int(version[0]) > SCHEMA_VERSION:
                conn.close()
                raise OutputError(f"{path} was written by a newer guiapp (journal version {version[0]})")
        except sqlite3.DatabaseError as exc:
            raise OutputError(f"cannot open the batch journal {path}: {exc}") from exc
        return cls(out_dir, conn)

    def close(self) -> None:
        self.conn.close()

    def _write(self, statements: Iterable[tuple[str, Any]]) -> None:
        """Run statements in one transaction; a full disk becomes an OutputError."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    if isinstance(params, list):
                        self.conn.executemany(sql, params)
                    else:
                        self.conn.execute(sql, params)
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise OutputError(f"cannot write the batch journal {self.path}: {exc}") from exc

    # -- settings -------------------------------------------------------------------------
    def save_settings(self, key: str, settings: dict[str, Any]) -> None:
        self._write([("INSERT OR IGNORE INTO settings VALUES(?, ?)", (key, json.dumps(settings, sort_keys=True)))])

    def settings_of(self, key: str) -> dict[str, Any] | None:
        found = self.conn.execute("SELECT json FROM settings WHERE key=?", (key,)).fetchone()
        return json.loads(found[0]) if found else None

    # -- runs -----------------------------------------------------------------------------
    def start_run(self, input_dir: str, settings: str, plan: list[PlanEntry],
                  target_names: dict[int, str] | None = None) -> int:
        """Record a new run and the folder as it is now (replacing the previous plan), and
        the names of the targets the plan gives (`batch-report` names a pending image's
        target without loading the model)."""
        self._write([
            ("DELETE FROM plan", ()),
            ("INSERT OR REPLACE INTO meta VALUES('target_names', ?)",
             (json.dumps({str(k): v for k, v in (target_names or {}).items()}),)),
            ("INSERT INTO plan VALUES(?,?,?,?,?,?,?,?)",
             [(p.input, p.output, p.kind, p.note, p.key, p.spec, p.size, p.mtime) for p in plan]),
            ("INSERT INTO runs(started, state, input_dir, settings, total) VALUES(?,?,?,?,?)",
             (time.time(), "running", input_dir, settings, len(plan))),
        ])
        return int(self.conn.execute("SELECT MAX(id) FROM runs").fetchone()[0])

    def target_names(self) -> dict[int, str]:
        """The names of the targets the latest run's plan gives, by class index."""
        found = self.conn.execute("SELECT value FROM meta WHERE key='target_names'").fetchone()
        return {int(k): str(v) for k, v in json.loads(found[0]).items()} if found else {}

    def end_run(self, run: int, state: str, attacked: int, seconds: float) -> None:
        self._write([("UPDATE runs SET ended=?, state=?, attacked=?, seconds=? WHERE id=?",
                      (time.time(), state, attacked, seconds, run))])

    def last_run(self) -> RunInfo | None:
        found = self.conn.execute(
            "SELECT id, started, ended, state, input_dir, settings, total, attacked, seconds "
            "FROM runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return RunInfo(*found) if found else None

    # -- results ----------------------------------------------------------------------------
    def record(self, run: int, entry: PlanEntry, settings: str, row: BatchRow, attacked: int, seconds: float,
               output: OutputDigest | None = None) -> None:
        """Commit one finished image (its PNG is already on disk; `output` is its digest)."""
        self._write([
            ("INSERT INTO results(run, input, key, spec, settings, size, mtime, status, row, at, out_sha256, out_size) "
             "VALUES(?,?,?,?,?,?,?,?,?,?,?,?)",
             (run, entry.input, entry.key, entry.spec, settings, entry.size, entry.mtime, row.status,
              json.dumps(asdict(row)), time.time(),
              output.sha256 if output else None, output.size if output else None)),
            # Kept current so that a killed run still reports its speed.
            ("UPDATE runs SET attacked=?, seconds=? WHERE id=?", (attacked, seconds, run)),
        ])

    def latest(self) -> dict[str, Finished]:
        query = (
            "SELECT r.input, r.run, r.key, r.spec, r.settings, r.size, r.mtime, r.status, r.row, r.out_sha256, "
            "r.out_size FROM results r "
            "JOIN (SELECT input, MAX(seq) AS seq FROM results GROUP BY input) m ON r.seq = m.seq"
        )
        return {
            name: Finished(run, key, spec, settings, size, mtime, status, row_from_json(row), sha or "",
                           -1 if out_size is None else out_size)
            for name, run, key, spec, settings, size, mtime, status, row, sha, out_size in self.conn.execute(query)
        }

    def plan(self) -> list[PlanEntry]:
        return [PlanEntry(*r) for r in self.conn.execute(
            "SELECT input, output, kind, note, key, spec, size, mtime FROM plan ORDER BY input")]
