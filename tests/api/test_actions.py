"""Changes through the service: recorded before they are sent, refused when they cannot
be recorded, and every request to change something on record, also those turned away."""
from __future__ import annotations

import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time

import pytest
import requests

from omapifo import Evidence, FailoverState, Role, load_config
from omapifo.api import create_app

from ..conftest import LogMark, fresh_state, fresh_state_when, stopped_and_noticed
from .conftest import OPERATOR, READER, auth, offline_config, wait_for

PAIR = "classroom-1-6"
CI = FailoverState.COMMUNICATIONS_INTERRUPTED
PD_URL = f"/api/v1/pairs/{PAIR}/peers/secondary/partner-down"


def audit_rows(db) -> list[tuple]:
    """The audit table as another process sees it (read-only, like an admin's sqlite3)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        return con.execute("SELECT actor, peer, action, outcome, detail FROM audit "
                           "ORDER BY id").fetchall()


def secondary_moves(mark: LogMark) -> str:
    """What the secondary's dhcpd logged since ``mark`` about moving to partner-down."""
    return "\n".join(line for line in mark.since(Role.SECONDARY).splitlines()
                     if "to partner-down" in line)


def secondary_state(lab) -> FailoverState | None:
    return fresh_state(lab).secondary.local_state


@pytest.fixture
def primary_stopped(healthy_lab):
    healthy_lab.stop(Role.PRIMARY)
    healthy_lab.wait_states(None, CI, timeout=30)
    yield healthy_lab
    healthy_lab.start(Role.PRIMARY, wait=False)


# -- no lab needed ---------------------------------------------------------------------------


@pytest.fixture
def offline(tmp_path):
    app = create_app(offline_config(tmp_path / "db.sqlite3"), poll=False)
    yield app
    app.extensions["omapifo"].close()


def test_requests_turned_away_before_the_library_are_on_record(offline):
    c = offline.test_client()
    url = "/api/v1/pairs/p/peers/secondary/partner-down"
    assert c.post(url, json={"confirm": "p"}).status_code == 401
    assert c.post(url, json={"confirm": "p"}, headers=auth(READER)).status_code == 403
    assert c.post(url, json={}, headers=auth(OPERATOR)).status_code == 400  # not confirmed
    assert c.post("/api/v1/pairs/p/leases/198.18.11.40/release", json={"confirm": "x"},
                  headers=auth(OPERATOR)).status_code == 400
    entries = c.get("/api/v1/audit", headers=auth(OPERATOR)).get_json()["entries"]
    got = [(e["actor"], e["action"], e["outcome"], e["detail"].split(":")[0])
           for e in reversed(entries)]
    # a request without a valid token is counted, never stored (issue 21: a loop of them
    # filled the state directory): tests/api/test_strangers.py
    assert got == [("noc", "partner-down", "rejected", "HTTP 403"),
                   ("alice", "partner-down", "rejected", "HTTP 400"),
                   ("alice", "release", "rejected", "HTTP 400")]
    assert "confirm" in entries[1]["detail"]
    text = c.get("/metrics", headers=auth(READER)).get_data(as_text=True)
    assert 'omapifo_requests_unauthenticated_total{kind="change"} 1.0' in text


def test_requests_turned_away_are_counted_under_a_configured_pair_only(offline):
    """omapifo_actions_total{outcome="rejected"}: a configured pair keeps its name; any
    other name in the URL is counted as "(unknown)", so nobody adds label values."""
    c = offline.test_client()
    c.post("/api/v1/pairs/p/peers/secondary/partner-down", json={"confirm": "p"})
    for n in range(3):
        c.post(f"/api/v1/pairs/nosuch{n}/peers/secondary/shutdown", json={})
    text = c.get("/metrics", headers=auth(READER)).get_data(as_text=True)
    rejected = sorted(line for line in text.splitlines()
                      if line.startswith("omapifo_actions_total{") and "rejected" in line)
    assert rejected == [
        'omapifo_actions_total{action="partner-down",outcome="rejected",pair="p"} 1.0',
        'omapifo_actions_total{action="shutdown",outcome="rejected",pair="(unknown)"} 3.0'], \
        rejected


def test_a_reason_with_a_lone_surrogate_is_kept_not_lost(offline, tmp_path):
    """The reason is invalid text (a lone surrogate, which no UTF-8 column holds), so the
    request is turned away (422, naming the field); the record keeps the reason as the
    caller sent it, the surrogate escaped, in the database and over the API."""
    c = offline.test_client()
    body = b'{"confirm": "p", "force": true, "reason": "PSU \\ud800 died"}'
    r = c.post("/api/v1/pairs/p/peers/secondary/partner-down", data=body,
               headers={**auth(OPERATOR), "Content-Type": "application/json"})
    assert r.status_code == 422 and "reason" in str(r.get_json()), r.get_json()
    entries = c.get("/api/v1/audit", headers=auth(OPERATOR)).get_json()["entries"]
    assert [(e["outcome"], e["reason"]) for e in entries] == [("rejected", "PSU \\ud800 died")]
    with sqlite3.connect(f"file:{tmp_path / 'db.sqlite3'}?mode=ro", uri=True) as con:
        assert con.execute("SELECT reason FROM audit").fetchall() == [("PSU \\ud800 died",)]


def test_the_database_is_owner_only(offline, tmp_path):
    c = offline.test_client()
    c.post("/api/v1/pairs/p/peers/secondary/partner-down", json={"confirm": "p"})
    for name in ("db.sqlite3", "db.sqlite3-wal", "db.sqlite3-shm"):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode & 0o077 == 0, f"{name} is mode {mode:o}"


# -- against the lab ---------------------------------------------------------------------------


@pytest.mark.integration
def test_a_locked_audit_store_refuses_with_503_and_nothing_is_sent(primary_stopped,
                                                                   service_cfg):
    lab = primary_stopped
    app = create_app(load_config(service_cfg), poll=False)
    c = app.test_client()
    db = load_config(service_cfg).service.database
    mark = LogMark(lab)
    locker = sqlite3.connect(db, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")  # another program holds the database
        r = c.post(PD_URL, json={"confirm": PAIR}, headers=auth(OPERATOR))
        assert r.status_code == 503 and r.content_type == "application/problem+json"
        assert "nothing was sent" in r.get_json()["detail"]
        time.sleep(1)
        assert secondary_state(lab) is CI  # dhcpd itself, read again
        assert secondary_moves(mark) == ""
        locker.execute("ROLLBACK")
        # the same request, the store writable again: it goes ahead (the test can fail)
        done = c.post(PD_URL, json={"confirm": PAIR}, headers=auth(OPERATOR))
        assert done.status_code == 200, done.get_json()
        assert "communications-interrupted to partner-down" in secondary_moves(mark)
        now = fresh_state(lab)  # both peers read afresh, not the answer
        assert now.secondary.local_state is FailoverState.PARTNER_DOWN
        assert now.primary.evidence is Evidence.DHCPD_STOPPED
        assert [row[3] for row in audit_rows(db)] == ["done"]
    finally:
        locker.close()
        app.extensions["omapifo"].close()


@pytest.mark.integration
@pytest.mark.parametrize("query,body", [
    ("?dry-run=1", {"confirm": PAIR}),
    ("?dry_run=0&dry_run=1", {"confirm": PAIR}),
    ("", {"confirm": PAIR, "force": "yes", "reason": "r"}),
])
def test_malformed_actions_are_422_and_change_nothing(primary_stopped, app, query, body):
    lab = primary_stopped
    mark = LogMark(lab)
    r = app.test_client().post(PD_URL + query, json=body, headers=auth(OPERATOR))
    assert r.status_code == 422, r.get_json()
    assert r.content_type == "application/problem+json"
    name = "force" if "force" in body else "dry"
    assert name in str(r.get_json()), r.get_json()
    time.sleep(0.5)
    assert secondary_state(lab) is CI
    assert secondary_moves(mark) == ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(cfg, port: int, faults: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "OMAPIFO_FAULTS": faults or ""}
    proc = subprocess.Popen([sys.executable, "-m", "omapifo.clients.cli", "-c", str(cfg),
                             "serve", "--listen", f"127.0.0.1:{port}"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(proc.communicate()[0])


def _post_until_killed(url: str) -> None:
    try:
        requests.post(url, json={"confirm": PAIR}, headers=auth(OPERATOR), timeout=30)
    except requests.ConnectionError:
        pass  # the service was killed under this request, as the test means it to be


@pytest.mark.integration
def test_service_killed_after_recording_an_attempt_lists_it_as_unknown(primary_stopped,
                                                                       service_cfg):
    """The service stops (fault point before-send=hang) between recording the attempt and
    sending it; SIGKILL there. After a restart the attempt is listed as unknown, and dhcpd
    agrees that nothing was sent."""
    lab = primary_stopped
    db = load_config(service_cfg).service.database
    mark = LogMark(lab)
    port = free_port()
    proc = serve(service_cfg, port, faults="before-send=hang")
    url = f"http://127.0.0.1:{port}{PD_URL}"
    try:
        threading.Thread(target=_post_until_killed, args=(url,), daemon=True).start()
        assert wait_for(lambda: audit_rows(db), timeout=20), "no attempt recorded"
        os.kill(proc.pid, signal.SIGKILL)  # recorded, not sent
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    port = free_port()
    proc = serve(service_cfg, port)
    try:
        base = f"http://127.0.0.1:{port}"
        entries = requests.get(f"{base}/api/v1/audit", headers=auth(OPERATOR),
                               timeout=10).json()["entries"]
        assert [(e["action"], e["outcome"], e["actor"], e["finished_at"]) for e in entries] \
            == [("partner-down", "unknown", "alice", None)]
        st = requests.get(f"{base}/api/v1/pairs/{PAIR}?fresh=1", headers=auth(READER),
                          timeout=10).json()
        assert st["secondary"]["local_state"]["name"] == "communications-interrupted"
        assert secondary_moves(mark) == ""
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


@pytest.mark.integration
def test_shutdown_over_rest_stops_the_server_and_is_audited(healthy_lab, app, log_mark):
    lab, c = healthy_lab, app.test_client()
    url = f"/api/v1/pairs/{PAIR}/peers/primary/shutdown"
    dry = c.post(url + "?dry_run=1", json={"confirm": PAIR}, headers=auth(OPERATOR))
    assert dry.status_code == 200 and dry.get_json()["dry_run"] is True
    assert lab.running(Role.PRIMARY) and "shutdown" not in log_mark.since(Role.PRIMARY)
    done = c.post(url, json={"confirm": PAIR, "reason": "maintenance"}, headers=auth(OPERATOR))
    assert done.status_code == 200, done.get_json()
    assert wait_for(lambda: not lab.running(Role.PRIMARY), timeout=20), "dhcpd still runs"
    assert "I move from normal to shutdown" in log_mark.since(Role.PRIMARY)
    # both peers read afresh, not the answer: the primary's host refuses the connection
    # and the secondary has noticed
    fresh_state_when(lab, stopped_and_noticed(Role.PRIMARY), timeout=60,
                     what="the primary stopped and the secondary noticing")
    entries = c.get("/api/v1/audit", headers=auth(OPERATOR)).get_json()["entries"]
    assert [(e["action"], e["outcome"]) for e in reversed(entries)] == [
        ("shutdown", "dry-run"), ("shutdown", "done")]
