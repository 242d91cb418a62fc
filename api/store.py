"""SQLite storage for the poller's transitions, its pool scans and the audit trail.

WAL mode, synchronous=FULL and one commit per record: a commit is on disk when the call
returns, so a service killed at any moment (SIGKILL during a partner-down) keeps every
record it wrote. The audit trail is an :class:`omapifo.AuditSink`: an attempt is
committed (outcome ``unknown``) before anything is sent, then completed; an attempt whose
process died stays ``unknown``. The database and its -wal/-shm files are owner-only
(SQLite gives those the database file's mode). One connection behind a lock serves the
poller and request threads; a database locked by someone else for longer than
BUSY_TIMEOUT makes an action's begin() fail, and the action is refused.

Bounded (issue 21): requests turned away are kept only for authenticated callers (a
stranger's are counted, api/auditing.py), and of those only the newest
:data:`REJECTED_ROWS` and none older than :data:`REJECTED_AGE`; pool scans are kept for
their retention. A store that cannot be written (disk full, read-only file system)
refuses every change (AuditUnavailable: 503, nothing sent) and says so in
:attr:`Store.writable` (the metric ``omapifo_store_writable``) while reads go on; a
database on a read-only file system is opened read-only at start, not refused.
"""
from __future__ import annotations

import errno
import logging
import os
import sqlite3
import stat
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from omapifo import AuditRecord, AuditUnavailable, Outcome, PoolReport, clean_text

log = logging.getLogger("omapifo.api.store")
BUSY_TIMEOUT = 2.0  # seconds a write waits for another connection's lock
# Requests of authenticated callers turned away (401 never gets here): the newest this many
# are kept, none older than REJECTED_AGE seconds. A reader token posting in a loop then
# costs a bounded table (each row at most ~2.5 kB: detail is cut at 2,000 characters).
REJECTED_ROWS = 2000
REJECTED_AGE = 30 * 86400.0
# A store that has not been written for this long is written to by probe() (the poller
# calls it), so omapifo_store_writable tells the truth between changes; one that failed
# is probed more often, to see it come back.
PROBE_EVERY, PROBE_FAILED_EVERY = 60.0, 5.0
_READ_ONLY_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM)

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
CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY, at TEXT NOT NULL);
"""
# added after audit-first: the pruning of rejected rows finds them by outcome
_INDEXES = "CREATE INDEX IF NOT EXISTS audit_outcome_id ON audit (outcome, id);"


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


def _open_read_only(path: str) -> sqlite3.Connection:
    """The database of a read-only file system, for reading. SQLite opens a WAL database
    read-only only where it can create the -shm file; on a read-only file system it
    cannot, and ``immutable=1`` (nothing changes it meanwhile: nobody can write there)
    is what reads it."""
    for mode in ("mode=ro", "immutable=1"):
        db = sqlite3.connect(f"file:{quote(path)}?{mode}", uri=True, check_same_thread=False,
                             isolation_level=None, timeout=BUSY_TIMEOUT)
        try:
            db.execute("SELECT COUNT(*) FROM audit").fetchall()
            return db
        except sqlite3.Error:
            db.close()
            if mode == "immutable=1":
                raise
    raise AssertionError("unreachable")


class Store:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self.read_only = False
        self.write_errors = 0  # failed writes since start (omapifo_store_write_errors_total)
        self._ok = True  # the last write succeeded
        self._last_write = time.monotonic()  # of the last write attempt (probe())
        try:
            self._db = self._open()
        except (OSError, sqlite3.OperationalError) as exc:
            # a file system that turned read-only (errors=remount-ro) and a restart: serve
            # what is recorded and refuse every change, rather than not start at all
            read_only = "readonly" in str(exc) if isinstance(exc, sqlite3.Error) \
                else exc.errno in _READ_ONLY_ERRNOS
            if self.path == ":memory:" or not os.path.exists(self.path) or not read_only:
                raise
            self._db = _open_read_only(self.path)
            self.read_only, self._ok = True, False
            log.error("the database %s cannot be written (%s): opened read-only; every "
                      "change is refused until it can be", self.path, exc)
        self._lock = threading.Lock()

    def _open(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            _owner_only(self.path)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                             timeout=BUSY_TIMEOUT)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is fsynced before it returns, so an attempt recorded before an
            # action survives a power cut, not only a process kill (NORMAL does not, in WAL)
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(audit)")}
            if "finished_at" not in columns:  # a database from before audit-first
                db.execute("ALTER TABLE audit ADD COLUMN finished_at TEXT")
            db.executescript(_INDEXES)
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @property
    def writable(self) -> bool:
        """The last write succeeded (and the database is not open read-only)."""
        return self._ok and not self.read_only

    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _write(self, statements: list[tuple[str, Any]], many: bool = False) -> list[Any]:
        """``statements`` (sql, args) in one transaction, one commit; whether it worked is
        :attr:`writable`. The first statement's rows are returned."""
        with self._lock:
            self._last_write = time.monotonic()
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    first: list[Any] = []
                    for i, (sql, args) in enumerate(statements):
                        cur = self._db.executemany(sql, args) if many and i == 0 else \
                            self._db.execute(sql, args)
                        if i == 0:
                            first = cur.fetchall()
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error:
                self._ok = False
                self.write_errors += 1
                raise
            self._ok = True
            return first

    def probe(self) -> bool:
        """Write to the database if it has not been written for a while (PROBE_EVERY,
        PROBE_FAILED_EVERY after a failure), so :attr:`writable` stays true to the disk
        between changes; returns :attr:`writable`. Never raises."""
        if self.read_only:
            return False
        every = PROBE_EVERY if self._ok else PROBE_FAILED_EVERY
        if time.monotonic() - self._last_write < every:
            return self.writable
        try:
            self._write([("INSERT OR REPLACE INTO probe (id, at) VALUES (1, ?)",
                          (_ts(datetime.now(timezone.utc)),))])
        except sqlite3.Error as exc:
            log.error("the database %s cannot be written (%s): changes are refused",
                      self.path, exc)
        return self.writable

    def add_transition(self, t: Transition) -> None:
        self._write([("INSERT INTO transitions (at, pair, peer, field, from_value, to_value) "
                      "VALUES (?, ?, ?, ?, ?, ?)",
                      (_ts(t.at), t.pair, t.peer, t.field, t.from_value, t.to_value))])

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
        self._write([("INSERT INTO pool_scans (at, pair, pool, total, active, free, backup, "
                      "utilization, runway_primary, runway_secondary) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      [(at, report.pair, p.name, p.total, p.active, p.free, p.backup,
                        p.utilization, p.runway.get("primary"), p.runway.get("secondary"))
                       for p in report.pools]),
                     ("DELETE FROM pool_scans WHERE pair = ? AND at < ?",
                      (report.pair, cutoff))], many=True)

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

    # -- the audit trail: an omapifo.AuditSink ----------------------------------

    def begin(self, record: AuditRecord) -> str:
        """Commit an attempt before anything is sent; AuditUnavailable if it cannot be.

        A record of a request turned away (outcome ``rejected``) also drops the rejected
        rows beyond REJECTED_ROWS and older than REJECTED_AGE, in the same commit."""
        insert = ("INSERT INTO audit (at, actor, pair, peer, action, outcome, force, reason, "
                  "detail, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                  (_ts(record.at), clean_text(record.actor), clean_text(record.pair),
                   clean_text(record.peer), record.action, str(record.outcome),
                   int(record.force), clean_text(record.reason), clean_text(record.detail),
                   _ts(record.finished_at) if record.finished_at else None))
        statements: list[tuple[str, Any]] = [insert]
        if record.outcome is Outcome.REJECTED:
            cutoff = _ts(record.at - timedelta(seconds=REJECTED_AGE))
            statements.append((
                "DELETE FROM audit WHERE outcome = ? AND (at < ? OR id <= (SELECT id FROM "
                "audit WHERE outcome = ? ORDER BY id DESC LIMIT 1 OFFSET ?))",
                (str(Outcome.REJECTED), cutoff, str(Outcome.REJECTED), REJECTED_ROWS)))
        try:
            rows = self._write(statements)
        except sqlite3.Error as exc:
            raise AuditUnavailable(f"the audit database {self.path} cannot be written ({exc}); "
                                   "nothing was sent", peer=record.peer,
                                   operation=record.action) from None
        return str(rows[0][0])

    def finish(self, record_id: str, outcome: Outcome, detail: str) -> None:
        try:
            self._write([("UPDATE audit SET outcome = ?, detail = ?, finished_at = ? "
                          "WHERE id = ?", (str(outcome), clean_text(detail),
                                           _ts(datetime.now(timezone.utc)), int(record_id)))])
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
