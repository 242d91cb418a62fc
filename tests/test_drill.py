"""Failover drills (omapifo/_drill.py) on the real pair: a drill of the primary runs end to
end and its report names every step; a drill whose start command fails stops there and
says what is left as it is; the real dhcpd and the audit trail are read afterwards."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from omapifo import (DrillReport, FailoverPair, FailoverState as S, JsonLinesAudit, Outcome,
                     Role, command_start, run_drill)
from omapifo.api import schemas
from omapifo._drill import STEPS
from omapifo.lab import Lab

from .conftest import fresh_state, restore

pytestmark = pytest.mark.integration


@pytest.fixture
def lab(probe_lab: Lab) -> Iterator[Lab]:
    restore(probe_lab)
    yield probe_lab
    restore(probe_lab)


def start_in_lab(lab: Lab):
    def start(role: Role) -> str:
        lab.start(role, wait=False)
        return f"lab.start({role})"
    return start


def test_a_drill_of_the_primary_runs_end_to_end_and_names_every_step(lab, tmp_path):
    audit = JsonLinesAudit(tmp_path / "audit.log")
    seen: list[str] = []
    with FailoverPair(lab.pair_config(), audit=audit) as pair:
        report = run_drill(pair, "primary", start=start_in_lab(lab), reason="monthly",
                           audit=audit, actor="test", on_step=lambda s: seen.append(s.what))
    assert report.completed, report
    assert [s.what for s in report.steps] == seen == list(STEPS)
    by = {s.what: s for s in report.steps}
    for s in report.steps:
        assert s.ok and s.at <= s.ended and s.message, s
    # the survivor answered clients of both shares at secs 0, the stopped server none
    survivor = [p for p in by["survivor serves"].probes if p.role is Role.SECONDARY]
    stopped = [p for p in by["survivor serves"].probes if p.role is Role.PRIMARY]
    assert len(survivor) == 2 and all(p.answered for p in survivor)
    assert len({p.mac for p in survivor}) == 2 and not any(p.answered for p in stopped)
    states = [o.states for o in by["maintenance"].seen]
    assert ("dhcpd-stopped", "partner-down") in states, states
    assert by["recovery"].seen[-1].normal
    assert all(p.answered for p in by["probe after"].probes)
    # the real pair afterwards, and the record
    after = fresh_state(lab)
    assert (after.primary.local_state, after.secondary.local_state) == (S.NORMAL, S.NORMAL)
    records = {r.action: r for r in audit.records()}
    assert records["drill"].outcome is Outcome.DONE and records["drill"].actor == "test"
    assert "survivor serves ok" in (records["drill"].detail or "")
    assert records["maintenance"].outcome is Outcome.DONE
    # the report as JSON, and back
    body = schemas.DrillReportSchema().dump(report)
    again = schemas.DrillReportSchema().load(body)
    assert isinstance(again, DrillReport) and [s.what for s in again.steps] == list(STEPS)


def test_a_drill_whose_start_command_fails_stops_and_says_what_is_left(lab, tmp_path):
    audit = JsonLinesAudit(tmp_path / "audit.log")
    with FailoverPair(lab.pair_config(), audit=audit) as pair:
        report = run_drill(pair, Role.SECONDARY, start=command_start("false"), audit=audit)
    assert not report.completed
    assert [s.what for s in report.steps] == [*STEPS[:3], "error"]
    assert "the start command exited 1" in report.message
    # left as it is: the secondary stopped, the primary serving alone
    assert not lab.running(Role.SECONDARY)
    assert fresh_state(lab).primary.local_state is S.PARTNER_DOWN
    assert {r.action: r.outcome for r in audit.records()}["drill"] is Outcome.FAILED
