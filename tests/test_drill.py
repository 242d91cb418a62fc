"""Failover drills (omapifo/_drill.py) without the lab: the start command, and a drill
that stops at its first failed step having changed nothing. On the real pair: a drill
that passes in tests/clients/test_drillcli.py (and docs/probes.md), one whose start
command fails in tests/api/test_drills.py."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from omapifo import (JsonLinesAudit, OmapifoError, Outcome, PairProbe, ProbeResult, Role,
                     command_start, run_drill)

NOW = datetime(2026, 12, 4, 4, 0, tzinfo=timezone.utc)


def test_the_start_command_names_the_role_and_says_what_it_printed():
    start = command_start("echo started {role}")
    assert start(Role.PRIMARY) == "ran echo started primary: started primary"


@pytest.mark.parametrize("command,words", [
    ("sh -c 'echo no such unit >&2; exit 5'", "exited 5: no such unit"),
    ("/nonexistent/start-dhcpd", "failed: [Errno 2]"),
])
def test_a_start_command_that_fails_is_an_error_naming_it(command, words):
    with pytest.raises(OmapifoError, match=words.replace("[", r"\[")):
        command_start(command)(Role.SECONDARY)


def test_an_empty_start_command_is_refused_before_any_drill():
    with pytest.raises(ValueError, match="empty"):
        command_start("  ")


class OneServerAnswers:
    """A pair whose secondary does not answer probes: the drill must stop at once."""

    name = "p"

    def probe(self, roles=tuple(Role), **kw) -> PairProbe:
        return PairProbe("p", "198.18.9.1", 4, 3.0, tuple(
            ProbeResult(Role.parse(r), "x", "02:6f:6d:70:00:01", 1, NOW,
                        Role.parse(r) is Role.PRIMARY) for r in roles))

    def __getattr__(self, name):
        raise AssertionError(f"the drill went on to {name}")


def test_a_drill_stops_at_its_first_failed_step_and_records_it(tmp_path):
    audit = JsonLinesAudit(tmp_path / "audit.log")
    report = run_drill(OneServerAnswers(), "primary", start=None,  # type: ignore[arg-type]
                       audit=audit)
    assert not report.completed and [s.what for s in report.steps] == ["probe before"]
    assert report.message.startswith("not started: servers answering: primary")
    [record] = audit.records()
    assert (record.action, record.outcome, record.peer) == ("drill", Outcome.FAILED, "primary")
    assert "probe before FAILED" in (record.detail or "")
