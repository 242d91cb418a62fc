"""SQLite storage for the poller's transitions and the audit trail.

WAL mode and one commit per record: a service killed at any moment (SIGKILL during a
partner-down) leaves every committed record intact, and an action is either recorded
or visibly absent. One connection behind a lock serves the poller and request threads.
"""
from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL, pair TEXT NOT NULL, peer TEXT NOT NULL,
    field TEXT NOT NULL, from_value TEXT, to_value TEXT
);
CREATE INDEX IF NOT EXISTS transitions_pair_at ON transitions (pair, at);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL, actor TEXT NOT NULL, pair TEXT NOT NULL, peer TEXT NOT NULL,
    action TEXT NOT NULL, outcome TEXT NOT NULL, force INTEGER NOT NULL,
    reason TEXT, detail TEXT
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


def _ts(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text)


class Store:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a process kill
        self._db.executescript(_SCHEMA)
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

    def add_audit(self, e: AuditEntry) -> None:
        self._exec("INSERT INTO audit (at, actor, pair, peer, action, outcome, force, reason, "
                   "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (_ts(e.at), e.actor, e.pair, e.peer, e.action, e.outcome, int(e.force),
                    e.reason, e.detail))

    def audit(self, *, limit: int = 50, offset: int = 0) -> tuple[list[AuditEntry], int]:
        total = self._exec("SELECT COUNT(*) FROM audit")[0][0]
        rows = self._exec("SELECT at, actor, pair, peer, action, outcome, force, reason, detail "
                          "FROM audit ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset))
        return [AuditEntry(_dt(r[0]), r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], r[8])
                for r in rows], total
