"""The audit trail of every change omapifo makes, written before anything is sent.

A :class:`FailoverPair <omapifo.FailoverPair>` is handed an :class:`AuditSink`.
Each mutating call first records its attempt (outcome ``unknown``) and only sends to
dhcpd once that record is durable; if it cannot be written the action is refused with
:class:`~omapifo.AuditUnavailable` and nothing is sent. The outcome then
completes the record on every path. A process killed in between leaves the attempt
with outcome ``unknown``: sent or not, nobody knows, and the record says so.

Sinks here: :class:`JsonLinesAudit` (the command line's file). The REST service keeps
its trail in SQLite (``omapifo.api.store.Store``), which is a sink too.
"""
from __future__ import annotations

import enum
import json
import os
import threading
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from ._errors import AuditUnavailable


class Outcome(str, enum.Enum):
    """How an audited attempt ended."""

    UNKNOWN = "unknown"  # recorded, not completed: sent but no answer, or the process died
    DONE = "done"  # the change was sent and dhcpd took it
    REFUSED = "refused"  # a guard said no; nothing was sent
    DRY_RUN = "dry-run"  # every check passed; nothing was sent, as asked
    NO_OP = "no-op"  # already so; nothing was sent
    FAILED = "failed"  # dhcpd refused it or could not be reached; nothing changed
    REJECTED = "rejected"  # the service turned the request away (401, 403, 4xx) before the library
    PARTIAL = "partial"  # a sequence (maintenance) made its first changes, then a guard stopped it

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class AuditRecord:
    """One attempt: who wanted what of which peer, and (once known) how it ended."""

    at: datetime
    actor: str
    pair: str
    peer: str  # "primary", "secondary", or a lease address for a release
    action: str  # "partner-down", "shutdown", "release"
    force: bool = False
    reason: str | None = None
    outcome: Outcome = Outcome.UNKNOWN
    detail: str | None = None
    finished_at: datetime | None = None


class AuditSink(Protocol):
    """Where a pair records its attempts. Both calls must be durable when they return."""

    def begin(self, record: AuditRecord) -> str:
        """Record an attempt (outcome unknown); return its id. Raise
        :class:`~omapifo.AuditUnavailable` if it cannot be written."""
        ...

    def finish(self, record_id: str, outcome: Outcome, detail: str) -> None:
        """Complete the attempt ``record_id`` with its outcome."""
        ...


def clean_text(text: str | None) -> str | None:
    """``text`` with anything that is not encodable as UTF-8 (a lone surrogate) escaped,
    so a record can always be written as the caller gave it, never dropped."""
    if text is None:
        return None
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class JsonLinesAudit:
    """An append-only JSON-lines file: a line per attempt, then a line per outcome with
    the same id. Each line is flushed and fsynced before the call returns; the file is
    created owner-only (0600)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()

    def _append(self, entry: dict[str, object], operation: str) -> None:
        line = json.dumps(entry, ensure_ascii=True) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with self._lock:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, line.encode())
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            raise AuditUnavailable(f"cannot write the audit log {self.path}: "
                                   f"{exc.strerror or exc}", operation=operation) from None

    def begin(self, record: AuditRecord) -> str:
        record_id = uuid.uuid4().hex
        entry = {k: _plain(v) for k, v in asdict(record).items()}
        self._append({"id": record_id, **entry}, record.action)
        return record_id

    def finish(self, record_id: str, outcome: Outcome, detail: str) -> None:
        self._append({"id": record_id, "outcome": str(outcome), "detail": clean_text(detail),
                      "finished_at": datetime.now(timezone.utc).isoformat()}, "audit")

    def records(self) -> list[AuditRecord]:
        """Every attempt in the file, oldest first, each with its last known outcome."""
        merged: dict[str, dict[str, object]] = {}
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        lines = text.split("\n")
        # The last piece has no newline yet: a line another process is appending right now
        # (a reader caught one half-written while the command line wrote it, in
        # tests/test_guards.py's race), or one a crash cut short. It is not a record yet.
        for n, line in enumerate(lines[:-1], start=1):
            try:
                entry = json.loads(line)
                merged.setdefault(entry.pop("id"), {}).update(entry)
            except (ValueError, AttributeError, KeyError, TypeError):
                raise AuditUnavailable(f"cannot read the audit log: {self.path}:{n} is not "
                                       "an audit record (a JSON object with an id)",
                                       operation="read audit") from None
        out = []
        for e in merged.values():
            if "at" not in e:
                continue  # an outcome whose attempt line is missing: not ours to invent
            out.append(replace(AuditRecord(
                at=datetime.fromisoformat(str(e["at"])), actor=str(e["actor"]),
                pair=str(e["pair"]), peer=str(e["peer"]), action=str(e["action"])),
                force=bool(e.get("force")), reason=e.get("reason"),  # type: ignore[arg-type]
                outcome=Outcome(e.get("outcome", "unknown")),
                detail=e.get("detail"),  # type: ignore[arg-type]
                finished_at=datetime.fromisoformat(str(e["finished_at"]))
                if e.get("finished_at") else None))
        return out


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Outcome):
        return str(value)
    if isinstance(value, str):
        return clean_text(value)
    return value
