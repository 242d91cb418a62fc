"""Stand-ins for unit tests: peers answering recorded failover-state objects, an
in-memory audit sink. Integration tests use the real lab instead."""
from __future__ import annotations

import base64
import tempfile
from pathlib import Path

from omapifo import (AuditRecord, ConnectionRefused, Endpoint, FailoverPair, FailoverState,
                     OmapiKey, Outcome, PairConfig, Role)
from omapifo._errors import PeerError
from omapifo._omapi import OmapiObject

from .recorded import failover_state

LOCK_DIR = Path(tempfile.mkdtemp(prefix="omapifo-test-locks-"))


class FakePeer:
    """A peer in ``local`` state (None: cannot be read, failing with ``error``) that
    records every update it is sent."""

    def __init__(self, local: FailoverState | None, partner: FailoverState | None = None, *,
                 error: type[PeerError] = ConnectionRefused) -> None:
        self.local, self.partner = local, partner if partner is not None else local
        self.error = error
        self.updates: list[tuple[str, list]] = []

    def open(self, type_, lookup, *, operation=None):
        if self.local is None:
            raise self.error(f"fake {self.error.__name__}", peer="fake", operation=operation)
        return OmapiObject(1, failover_state(self.local, self.partner))

    def update(self, type_, lookup, changes, *, operation=None, expect_answer=True):
        self.updates.append((type_, list(changes)))
        if type_ == "failover-state":
            self.local = FailoverState(int.from_bytes(dict(changes)["local-state"], "big"))
        return OmapiObject(1, {})

    def close(self):
        pass


class MemoryAudit:
    """An AuditSink in a list; ``fail`` makes begin() raise as a locked database would."""

    def __init__(self) -> None:
        self.records: dict[str, AuditRecord] = {}
        self.fail = False

    def begin(self, record: AuditRecord) -> str:
        from omapifo import AuditUnavailable
        if self.fail:
            raise AuditUnavailable("the fake audit store is locked")
        record_id = str(len(self.records))
        self.records[record_id] = record
        return record_id

    def finish(self, record_id: str, outcome: Outcome, detail: str) -> None:
        from dataclasses import replace
        self.records[record_id] = replace(self.records[record_id], outcome=outcome,
                                          detail=detail)

    @property
    def outcomes(self) -> list[str]:
        return [str(r.outcome) for r in self.records.values()]

    @property
    def last(self) -> AuditRecord:
        return list(self.records.values())[-1]


def fake_pair(primary: FakePeer, secondary: FakePeer,
              audit: MemoryAudit | None = None) -> FailoverPair:
    key = OmapiKey("k", base64.b64encode(b"x" * 16).decode())
    config = PairConfig("p", Endpoint("198.18.10.253"), Endpoint("198.18.60.253"), key,
                        lock_dir=LOCK_DIR)
    return FailoverPair(config, peers={Role.PRIMARY: primary, Role.SECONDARY: secondary},
                        audit=audit if audit is not None else MemoryAudit())
