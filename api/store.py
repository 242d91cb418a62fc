"""SQLite storage for the poller's transitions, its pool scans and the audit trail.

WAL mode, synchronous=FULL and one commit per record: a commit is on disk when the call
returns, so a service killed at any moment (SIGKILL during a partner-down) keeps every
record it wrote. The audit trail is an :class:`omapifo.audit.AuditSink`: an attempt is
committed (outcome ``unknown``) before anything is sent, then completed; an attempt whose
process died stays ``unknown``. The database and its -wal/-shm files are owner-only
(SQLite gives those the database file's mode). One connection behind a lock serves the
poller and request threads; a database locked by someone else for longer than
BUSY_TIMEOUT makes an action's begin() fail, and the action is refused.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from omapifo import PoolReport
from omapifo.audit import AuditRecord, Outcome, clean_text
from omapifo.errors import AuditUnavailable

log = logging.getLogger("omapifo.api.store")
BUSY_TIMEOUT = 2.0  # seconds a write waits for another connection's lock

_SCHEMA = """
CREATE TABLE IF NOT EXISTS transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL, pair TEXT NOT NULL, peer TEXT NOT NULL,
    field TEXT NOT NULL, from_value TEXT, to_value TEXT
);
CREATE INDEX IF NOT EXISTS transitions_pair_at ON transitions (pair, at);
CREATE TABLE IF NOT EXISTS pool_scans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL, pair TEXT NOT NULL, pool TEXT NOT NULL,
    total INTEGER NOT NULL, active INTEGER NOT NULL, free INTEGER NOT NULL,
    backup INTEGER NOT NULL, utilization REAL NOT NULL,
    runway_primary INTEGER, runway_secondary INTEGER
);
CREATE INDEX IF NOT EXISTS pool_scans_pair_at ON pool_scans (pair, at);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL, actor TEXT NOT NULL, pair TEXT NOT NULL, peer TEXT NOT NULL,
    action TEXT NOT NULL, outcome TEXT NOT NULL, force INTEGER NOT NULL,
    reason TEXT, detail TEXT, finished_at TEXT
);
"""


@dataclass(frozen=True)
class Transition:
    at: datetime
    pair: str
    peer: str
    field: str  # "local_state", "partner_state" or "reachable"
    from_value: str | None
    to_value: str | None


@dataclass(frozen=True)
class PoolPoint:
    """One pool at one complete scan: what the status page charts over time."""

    at: datetime
    pair: str
    pool: str
    total: int
    active: int
    free: int
    backup: int
    utilization: float  # percent bound to clients, PoolCounts.utilization at the scan
    runway: dict[str, int]  # "primary"/"secondary" -> addresses it could hand out alone


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    pair: str
    peer: str
    action: str
    outcome: str
    force: bool
    reason: str | None
    detail: str | None
    finished_at: datetime | None = None


def _ts(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _owner_only(path: str) -> None:
    """Create the database file 0600 before SQLite does (it would use the umask), and take
    group and other bits off one that exists."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o077:
            os.fchmod(fd, mode & 0o700)
            log.warning("%s was readable by others (mode %o): now %o", path, mode, mode & 0o700)
    finally:
        os.close(fd)


class Store:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            _owner_only(self.path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                   timeout=BUSY_TIMEOUT)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is fsynced before it returns, so an attempt recorded before an
        # action survives a power cut, not only a process kill (NORMAL does not, in WAL)
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(audit)")}
        if "finished_at" not in columns:  # a database from before audit-first
            self._db.execute("ALTER TABLE audit ADD COLUMN finished_at TEXT")
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def add_transition(self, t: Transition) -> None:
        self._exec("INSERT INTO transitions (at, pair, peer, field, from_value, to_value) "
                   "VALUES (?, ?, ?, ?, ?, ?)",
                   (_ts(t.at), t.pair, t.peer, t.field, t.from_value, t.to_value))

    def transitions(self, pair: str, *, since: datetime | None = None, limit: int = 50,
                    offset: int = 0) -> tuple[list[Transition], int]:
        """Newest first; returns the page and the total count."""
        where, args = "pair = ?", [pair]
        if since is not None:
            where += " AND at >= ?"
            args.append(_ts(since))
        total = self._exec(f"SELECT COUNT(*) FROM transitions WHERE {where}", tuple(args))[0][0]
        rows = self._exec(f"SELECT at, pair, peer, field, from_value, to_value FROM transitions "
                          f"WHERE {where} ORDER BY at DESC, id DESC LIMIT ? OFFSET ?",
                          (*args, limit, offset))
        return [Transition(_dt(r[0]), *r[1:]) for r in rows], total

    # -- the time series of pool scans ------------------------------------------------

    def add_pool_scan(self, report: PoolReport, retention: float) -> None:
        """Record a complete scan's counts, one row per pool, and drop rows of the pair
        older than ``retention`` seconds before it (so the table stays bounded by what the
        configuration keeps, however long the service runs). An incomplete scan is not
        recorded: its zeros would read as a pool emptied."""
        if not report.complete:
            return
        at = _ts(report.scanned_at)
        cutoff = _ts(report.scanned_at - timedelta(seconds=retention))
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT INTO pool_scans (at, pair, pool, total, active, free, backup, "
                    "utilization, runway_primary, runway_secondary) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(at, report.pair, p.name, p.total, p.active, p.free, p.backup,
                      p.utilization,
                      p.runway.get("primary"), p.runway.get("secondary"))
                     for p in report.pools])
                self._db.execute("DELETE FROM pool_scans WHERE pair = ? AND at < ?",
                                 (report.pair, cutoff))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def pool_history(self, pair: str, *, since: datetime | None = None,
                     limit: int = 1000) -> list[PoolPoint]:
        """Oldest first (the order a chart draws): the newest ``limit`` rows of ``pair``."""
        where, args = "pair = ?", [pair]
        if since is not None:
            where += " AND at >= ?"
            args.append(_ts(since))
        rows = self._exec(
            f"SELECT at, pair, pool, total, active, free, backup, utilization, runway_primary, "
            f"runway_secondary FROM (SELECT * FROM pool_scans WHERE {where} "
            f"ORDER BY at DESC, id DESC LIMIT ?) ORDER BY at, id", (*args, limit))
        return [PoolPoint(_dt(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7],
                          {k: v for k, v in (("primary", r[8]), ("secondary", r[9]))
                           if v is not None}) for r in rows]

    # -- the audit trail: an omapifo.audit.AuditSink ----------------------------------

    def begin(self, record: AuditRecord) -> str:
        """Commit an attempt before anything is sent; AuditUnavailable if it cannot be."""
        try:
            rows = self._exec(
                "INSERT INTO audit (at, actor, pair, peer, action, outcome, force, reason, "
                "detail, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (_ts(record.at), clean_text(record.actor), clean_text(record.pair),
                 clean_text(record.peer), record.action, str(record.outcome),
                 int(record.force), clean_text(record.reason), clean_text(record.detail),
                 _ts(record.finished_at) if record.finished_at else None))
        except sqlite3.Error as exc:
            raise AuditUnavailable(f"the audit database {self.path} cannot be written ({exc}); "
                                   "nothing was sent", peer=record.peer,
                                   operation=record.action) from None
        return str(rows[0][0])

    def finish(self, record_id: str, outcome: Outcome, detail: str) -> None:
        try:
            self._exec("UPDATE audit SET outcome = ?, detail = ?, finished_at = ? WHERE id = ?",
                       (str(outcome), clean_text(detail), _ts(datetime.now(timezone.utc)),
                        int(record_id)))
        except sqlite3.Error as exc:
            raise AuditUnavailable(f"the audit database {self.path} cannot be written ({exc})",
                                   operation="audit") from None

    def audit(self, *, limit: int = 50, offset: int = 0) -> tuple[list[AuditEntry], int]:
        total = self._exec("SELECT COUNT(*) FROM audit")[0][0]
        rows = self._exec("SELECT at, actor, pair, peer, action, outcome, force, reason, detail, "
                          "finished_at FROM audit ORDER BY id DESC LIMIT ? OFFSET ?",
                          (limit, offset))
        return [AuditEntry(_dt(r[0]), r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8],
                           _dt(r[9]) if r[9] else None) for r in rows], total
