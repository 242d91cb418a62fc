"""`omapifo drill PAIR PEER` on the real pair: the steps as they end, the report as JSON,
the audit trail; refused where it cannot keep its record (through the service)."""
from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from omapifo import FailoverState as S, Role
from omapifo.api import schemas
from omapifo._drill import STEPS
from omapifo.lab import Lab

from ..conftest import fresh_state, restore
from .test_cli import PAIR

pytestmark = pytest.mark.integration
OMAPIFO = Path(sys.executable).parent / "omapifo"


@pytest.fixture
def lab(probe_lab: Lab) -> Iterator[Lab]:
    restore(probe_lab)
    yield probe_lab
    restore(probe_lab)


@pytest.mark.direct_only
def test_a_drill_from_the_command_line_with_a_start_command(lab, run, tmp_path):
    start = f"{shlex.quote(str(OMAPIFO))} lab start {{role}} --prefix {lab.settings.prefix}"
    report = tmp_path / "drill.json"
    code, out, err = run("drill", PAIR, "primary", "--yes", "--reason", "monthly drill",
                         "--start-command", start, "--report", str(report))
    assert code == 0, out + err
    for what in STEPS:
        assert f" ok {what}: " in out, out
    assert "started the primary" in out and out.rstrip().endswith(
        "the secondary served both shares alone and the pair came back to normal")
    body = json.loads(report.read_text())
    assert body["completed"] and [s["what"] for s in body["steps"]] == list(STEPS)
    # the report, loaded back: what each step saw
    by = {step.what: step for step in schemas.DrillReportSchema().load(body).steps}
    assert all(step.ok and step.at <= step.ended for step in by.values())
    survivor = [p for p in by["survivor serves"].probes if p.role is Role.SECONDARY]
    stopped = [p for p in by["survivor serves"].probes if p.role is Role.PRIMARY]
    # the survivor answered a client of each share at secs 0, the stopped server none
    assert len(survivor) == 2 and all(p.answered for p in survivor)
    assert len({p.mac for p in survivor}) == 2 and not any(p.answered for p in stopped)
    assert ("dhcpd-stopped", "partner-down") in [o.states for o in by["maintenance"].seen]
    assert by["recovery"].seen[-1].normal
    assert [p.answered for p in by["probe after"].probes] == [True, True]
    st = fresh_state(lab)
    assert (st.primary.local_state, st.secondary.local_state) == (S.NORMAL, S.NORMAL)
    done = {(r.action, r.outcome, r.reason) for r in run.records()}
    assert ("drill", "done", "monthly drill") in done
    assert ("maintenance", "done", "monthly drill") in done


@pytest.mark.direct_only
def test_a_drill_asks_to_confirm_and_is_refused_through_the_service(lab, run, monkeypatch):
    code, _, err = run("drill", PAIR, "primary")  # stdin is not a terminal
    assert code == 2 and "needs confirmation" in err
    monkeypatch.setenv("OMAPIFO_TOKEN", "x" * 32)
    code, _, err = run("drill", PAIR, "primary", "--yes", "--api", "http://127.0.0.1:9")
    assert code == 2 and "a drill runs where its audit trail is" in err, err
    assert lab.running("primary") and lab.running("secondary")
    assert run.records() == []
