"""The JSON-lines audit trail read back while another process appends to it."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from omapifo import JsonLinesAudit
from omapifo import AuditRecord, Outcome
from omapifo._errors import AuditUnavailable


def _one_record(log: JsonLinesAudit) -> str:
    rid = log.begin(AuditRecord(at=datetime.now(timezone.utc), actor="alice",
                                pair="classroom-1-6", peer="secondary", action="partner-down"))
    log.finish(rid, Outcome.DONE, "moved")
    return rid


def test_a_line_still_being_written_is_not_read_as_a_record(tmp_path):
    """Measured in tests/test_guards.py's race (two workers): a reader caught the command
    line's record half-written and failed with a JSONDecodeError."""
    log = JsonLinesAudit(tmp_path / "audit.log")
    _one_record(log)
    with open(log.path, "a") as fh:
        fh.write('{"id": "d8e325f32c434dd78df41dbbff44d8fe", "at": "2026-12-04T02:01:15+00:00", ')
    records = log.records()
    assert [(r.actor, r.outcome) for r in records] == [("alice", Outcome.DONE)]


def test_a_damaged_line_is_an_error_that_names_the_file_and_line(tmp_path):
    log = JsonLinesAudit(tmp_path / "audit.log")
    _one_record(log)
    with open(log.path, "a") as fh:
        fh.write("not json\n")
    _one_record(log)
    with pytest.raises(AuditUnavailable, match=rf"{log.path}:3 is not an audit record"):
        log.records()
