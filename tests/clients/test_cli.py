"""The `omapifo` command against the real pair: status, partner-down, lease, check, --api.

Each test runs straight over OMAPI and again through the service (conftest.py's ``run``)."""
from __future__ import annotations

import json
import re
import time

import pytest

from omapifo import Evidence, FailoverState, LeaseState, Role, load_config
from omapifo.clients import servecli

from ..api.conftest import OPERATOR, READER, service_config
from ..conftest import fresh_lease, fresh_state, fresh_state_when, stopped_and_noticed

pytestmark = pytest.mark.integration
PAIR = "classroom-1-6"


def test_status_human_and_json(healthy_lab, run):
    code, out, _ = run("status")
    assert code == 0 and "classroom-1-6  primary" in out and "normal" in out
    code, out, _ = run("status", PAIR, "--json")
    st = json.loads(out)
    assert st["primary"]["local_state"]["name"] == "normal" and st["health"]["level"] == "ok"


def test_partner_down_refused_then_done_after_the_primary_stops(healthy_lab, run):
    code, _, err = run("partner-down", PAIR, "secondary", "--yes")
    assert code == 1 and "not communications-interrupted" in err
    code, _, err = run("partner-down", PAIR, "secondary")  # no tty, no --yes
    assert code == 2 and "--yes" in err
    healthy_lab.stop(Role.PRIMARY)
    healthy_lab.wait_states(None, FailoverState.COMMUNICATIONS_INTERRUPTED, timeout=30)
    code, out, _ = run("partner-down", PAIR, "secondary", "--yes")
    assert code == 0 and "now in partner-down" in out
    now = fresh_state(healthy_lab)  # both peers read afresh, not the command's output
    assert now.secondary.local_state is FailoverState.PARTNER_DOWN
    assert now.primary.evidence is Evidence.DHCPD_STOPPED
    if run.mode == "direct":
        lines = [json.loads(line) for line in run.audit.read_text().splitlines()]
        # a line per attempt (outcome unknown, written before anything is sent), then a
        # line per outcome with the attempt's id
        assert [e["outcome"] for e in lines] == ["unknown", "refused", "unknown", "done"]
        assert lines[0]["id"] == lines[1]["id"] and lines[2]["id"] == lines[3]["id"]
    assert [(r.outcome, r.actor.startswith(run.actor)) for r in run.records()] == [
        ("refused", True), ("done", True)]


def test_check_returns_each_of_its_four_exit_codes(healthy_lab, run):
    code, out, _ = run("check", PAIR)
    assert code == 0 and out.startswith("OMAPIFO OK") and "|" in out
    code, out, _ = run("check", "no-such-pair")
    assert code == 3 and out.startswith("OMAPIFO UNKNOWN")
    # a lab pool holds 32 addresses, so each side's runway is at most 16 (fewer once
    # earlier tests' clients hold leases)
    code, out, _ = run("check", PAIR, "--runway-warning", "100")
    low = int(re.search(r"min_runway=(\d+);100;;0", out).group(1))
    assert code == 1 and f"runway {low} in " in out and low <= 16
    code, out, _ = run("check", PAIR, "--runway-warning", "100", "--runway-critical", "100")
    assert code == 2 and out.startswith("OMAPIFO CRITICAL")
    code, out, _ = run("check", PAIR, "--runway-warning", "0")
    assert code == 0 and "min_runway=" in out
    healthy_lab.stop(Role.SECONDARY)
    healthy_lab.wait_states(FailoverState.COMMUNICATIONS_INTERRUPTED, None, timeout=30)
    code, out, _ = run("check", PAIR, "-w", "0", "-c", "3600")
    assert code == 1 and out.startswith("OMAPIFO WARNING"), out
    time.sleep(2.1)  # longer than the critical threshold below
    code, out, _ = run("check", PAIR, "-w", "0", "-c", "2")
    assert code == 2 and out.startswith("OMAPIFO CRITICAL")
    assert "comms_interrupted_seconds=" in out


def test_check_on_a_cut_link_follows_the_clock_not_the_stale_partner_states(healthy_lab, run):
    """Both servers run, cut off from each other: each is communications-interrupted and
    still reports its partner as normal. -w/-c decide, as on a dead server."""
    ci = FailoverState.COMMUNICATIONS_INTERRUPTED
    lab = healthy_lab
    try:
        lab.partition()
        lab.wait_states(ci, ci, timeout=lab.settings.max_response_delay + 45)
        code, out, _ = run("check", PAIR, "-w", "600", "-c", "1200")
        assert code == 0 and out.startswith("OMAPIFO OK"), out
        assert "primary communications-interrupted for " in out and "disagree" not in out
        code, out, _ = run("check", PAIR, "-w", "0", "-c", "1200")
        assert code == 1 and "secondary_comms_interrupted_seconds=" in out, out
        code, out, _ = run("status", PAIR)
        assert code == 1 and "only the failover link is broken" in out
    finally:
        lab.mend()
    lab.wait_normal(timeout=120)


def test_lease_show_and_release(healthy_lab, run):
    # a MAC of each mode's own: dhcpd refuses the lookup of a MAC that holds several leases
    # (measured), and the other mode's run left this one's released lease behind
    mac = "02:00:00:cc:00:04" if run.mode == "direct" else "02:00:00:cc:01:04"
    ip = healthy_lab.client(4, mac=mac)
    code, out, _ = run("lease", "show", PAIR, ip)
    assert code == 0 and "active, peers agree" in out
    code, out, err = run("lease", "show", PAIR, "--mac", mac, "--json")
    assert code == 0, err
    assert json.loads(out)["ip"] == ip
    assert fresh_lease(healthy_lab, ip).state is LeaseState.ACTIVE
    code, out, _ = run("lease", "release", PAIR, ip, "--yes")
    assert code == 0 and "active" not in out.splitlines()[0]
    after = fresh_lease(healthy_lab, ip)  # both peers read afresh, not the command's output
    assert after.primary and after.secondary, after.errors
    assert LeaseState.ACTIVE not in (after.primary.state, after.secondary.state)
    assert [r.outcome for r in run.records()] == ["done"]
    code, _, err = run("lease", "show", PAIR, "not-an-ip")
    assert code == 2 and "not an IPv4 address" in err
    # dhcpd answered, it has no such lease: 1, not 3 (3 says a peer could not be reached)
    code, _, err = run("lease", "show", PAIR, "--mac", "02:00:00:cc:0f:ff")
    assert code == 1 and err.startswith("omapifo: "), err


@pytest.mark.direct_only  # it goes through the service itself, and compares
def test_same_output_through_the_rest_service(healthy_lab, run, tmp_path, monkeypatch):
    cfg = service_config(healthy_lab.config_path, tmp_path, tmp_path / "db.sqlite3")
    url, serve, stop = servecli.start(load_config(cfg), "127.0.0.1:0")
    servecli.run_in_thread(serve)
    try:
        monkeypatch.setenv("OMAPIFO_TOKEN", READER)
        code, via_api, _ = run("status", PAIR, "--json", "--api", url)
        code2, direct, _ = run("status", PAIR, "--json")
        assert code == code2 == 0

        def stable(text: str) -> dict:
            st = json.loads(text)
            st.pop("read_at")
            return st
        assert stable(via_api) == stable(direct)
        code, _, err = run("partner-down", PAIR, "secondary", "--yes", "--api", url)
        assert code == 2 and "operator" in err  # a reader token may not change anything
        monkeypatch.setenv("OMAPIFO_TOKEN", OPERATOR)
        code, _, err = run("partner-down", PAIR, "secondary", "--yes", "--api", url)
        assert code == 1 and "not communications-interrupted" in err
    finally:
        stop()


def test_pools_live_and_from_the_leases_file(healthy_lab, run):
    code, out, _ = run("pools", PAIR)
    assert code == 0 and "RUNWAY PRIMARY" in out and "omapi scan, " in out
    code, out, _ = run("pools", PAIR, "--json", "--leases",
                       str(healthy_lab.leases_path(Role.PRIMARY)))
    report = json.loads(out)
    assert report["source"] == "leases-file" and len(report["pools"]) == 4
    assert all(p["total"] == 32 for p in report["pools"])


@pytest.mark.direct_only  # with --api and without, itself
def test_doctor_shows_the_services_last_transitions(healthy_lab, run, tmp_path, monkeypatch):
    """Through the service's API (--api), never by opening its database."""
    from datetime import datetime, timezone

    from omapifo.api.store import Store, Transition
    cfg = service_config(healthy_lab.config_path, tmp_path, tmp_path / "db.sqlite3")
    url, serve, stop = servecli.start(load_config(cfg), "127.0.0.1:0")
    servecli.run_in_thread(serve)
    try:
        store = Store(tmp_path / "db.sqlite3")  # what the poller would have recorded
        store.add_transition(Transition(datetime.now(timezone.utc), PAIR, "primary",
                                        "local_state", "normal", "communications-interrupted"))
        store.close()
        monkeypatch.setenv("OMAPIFO_TOKEN", READER)
        code, out, _ = run("doctor", PAIR, "--no-scan", "--api", url)
        assert code == 0 and "last transitions" in out
        assert "primary local_state: normal -> communications-interrupted" in out
        assert "next step: Nothing to do" in out
        code, out, _ = run("doctor", PAIR, "--no-scan")
        assert code == 0 and "last transitions" not in out  # no --api: not shown
    finally:
        stop()


def test_shutdown_from_the_command_line_stops_the_server(healthy_lab, run, log_mark):
    code, out, err = run("shutdown", PAIR, "secondary", "--dry-run", "--yes")
    assert code == 0 and "would shut down" in out, err
    assert healthy_lab.running(Role.SECONDARY)
    code, out, err = run("shutdown", PAIR, "secondary", "--yes")
    assert code == 0 and "was told to shut down" in out, err
    deadline = time.monotonic() + 20
    while healthy_lab.running(Role.SECONDARY):
        assert time.monotonic() < deadline, "dhcpd did not exit"
        time.sleep(0.2)
    assert "I move from normal to shutdown" in log_mark.since(Role.SECONDARY)
    # both peers read afresh, not the command's output
    fresh_state_when(healthy_lab, stopped_and_noticed(Role.SECONDARY), timeout=60,
                     what="the secondary stopped and the primary noticing")


def test_release_dry_run_from_the_command_line_asks_and_changes_nothing(healthy_lab, run,
                                                                        monkeypatch):
    ip = healthy_lab.client(4, mac="02:00:00:cc:00:04")
    monkeypatch.setattr("sys.stdin", open("/dev/null"))  # not a terminal: no --yes, no go
    code, _, err = run("lease", "release", PAIR, ip, "--dry-run")
    assert code == 2 and "needs confirmation" in err
    code, out, err = run("lease", "release", PAIR, ip, "--dry-run", "--yes", "--json")
    assert code == 0, err
    assert json.loads(out)["state"]["name"] == "active"
    code, out, _ = run("lease", "show", PAIR, ip, "--json")
    assert json.loads(out)["primary"]["state"]["name"] == "active"  # dhcpd, read again
    assert json.loads(out)["secondary"]["state"]["name"] == "active"
    assert [r.outcome for r in run.records()] == ["dry-run"]
    if run.mode == "direct":  # the file itself: the intent first, then its outcome
        lines = [json.loads(line) for line in run.audit.read_text().splitlines()]
        assert [e["outcome"] for e in lines] == ["unknown", "dry-run"]
