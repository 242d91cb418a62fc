"""`omapifo probe PAIR` against the real pair, straight and through the service (whose
own host, this one, sends the probes from the pair's probe_giaddr)."""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from omapifo import Role
from omapifo.api import schemas as s
from omapifo.lab import Lab

from ..conftest import restore
from .test_cli import PAIR

pytestmark = pytest.mark.integration


@pytest.fixture
def lab(probe_lab: Lab) -> Iterator[Lab]:
    """The probe lab in place of the session's lab (the ``run`` fixture uses ``lab``)."""
    restore(probe_lab)
    yield probe_lab
    probe_lab.unfilter()
    restore(probe_lab)


def test_probe_shows_each_server_answering(lab, run):
    code, out, err = run("probe", PAIR)
    assert code == 0, err
    lines = out.splitlines()
    for role in Role:
        row = next(line.split() for line in lines if line.startswith(str(role)))
        assert row[1:3] == [lab.layout.server_addr(role), "yes"], out
    assert f"from {lab.layout.probe_giaddr}, secs 4" in out


def test_probe_json_of_one_server_loads_with_the_schema(lab, run):
    code, out, _ = run("probe", PAIR, "--peer", "secondary", "--json", "--timeout", "2")
    found = s.PairProbeSchema().load(json.loads(out))
    assert code == 0 and [r.role for r in found.results] == [Role.SECONDARY]
    assert found.timeout == 2 and found.results[0].answered


def test_a_server_that_does_not_answer_exits_1(lab, run):
    # DHCP to the secondary dropped on the router: no answer, and no failover state to
    # wait out afterwards (a stopped server is tests/api/test_probe_monitoring.py's)
    lab.filter("router", f"ip daddr {lab.layout.server_addr(Role.SECONDARY)} udp dport 67 drop")
    code, out, _ = run("probe", PAIR, "--timeout", "2")
    row = next(line.split() for line in out.splitlines() if line.startswith("secondary"))
    assert code == 1 and row[2] == "NO" and "no answer" in " ".join(row), out
