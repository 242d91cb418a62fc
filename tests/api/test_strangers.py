"""A bounded audit of strangers (issue 21): requests without a valid token are counted and
logged at a bounded rate, never stored; rejected rows of authenticated callers are kept
within a bounded number; the state directory cannot be filled from outside."""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
import requests

from omapifo import FailoverPair, LeaseState, load_config
from omapifo.api import auditing, create_app, store
from omapifo.clients import servecli

from .conftest import OPERATOR, READER, auth, offline_config, wait_for

PAIR = "classroom-1-6"
MAC = "02:00:00:21:00:01"  # this file's client (subnet 3)


def _database_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm"))
               if p.exists())


def _stranger_lines(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if getattr(r, "omapifo_event", None) == "action"
            and auditing.STRANGER in r.getMessage()]


@pytest.mark.integration
def test_ten_thousand_posts_without_a_token_leave_the_store_as_it_was(healthy_lab, tmp_path,
                                                                      service_cfg, caplog):
    """10,000 POSTs and DELETEs to action paths without a token, for any pair name: the
    database grows by less than 1 MiB, each is counted, a handful are logged, and a real
    change (a release of a real client's lease) still goes through, on dhcpd itself.
    Before: each was an fsynced row and a warning line."""
    lab = healthy_lab
    caplog.set_level(logging.INFO, logger="omapifo.events")
    config = load_config(service_cfg)
    db = config.service.database
    url, run, stop, service = servecli.start_service(config, "127.0.0.1:0")
    thread = servecli.run_in_thread(run)
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    paths = [f"/api/v1/pairs/{{}}/peers/secondary/{a}" for a in
             ("partner-down", "shutdown", "maintenance")] + [
        "/api/v1/pairs/{}/leases/198.18.11.40/release", "/api/v1/pairs/{}/hosts"]

    def flood(worker: int, n: int) -> None:
        with requests.Session() as s:
            for i in range(n):  # bounded: n requests to loopback
                name = PAIR if i % 2 else f"x{worker}-{i}"  # real and invented pairs
                path = paths[i % len(paths)].format(name)
                if i % 7 == 0:
                    r = s.delete(f"{url}/api/v1/pairs/{name}/hosts/h{i}", timeout=10)
                else:
                    r = s.post(url + path, json={"confirm": name}, timeout=10)
                with lock:
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

    try:
        assert wait_for(lambda: service.poller.last_pools(PAIR), 30)  # its first writes
        before = _database_bytes(db)
        t = time.monotonic()
        workers = [threading.Thread(target=flood, args=(w, 2500)) for w in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(300)
        took = time.monotonic() - t
        grown = _database_bytes(db) - before
        metrics = requests.get(f"{url}/metrics", timeout=10).text
        # a real change still goes through, and is on record (the client binds now: a first
        # lease in failover lasts the MCLT, 15 s in the tests' labs, and the flood lasts longer)
        ip = lab.client(3, mac=MAC)
        done = requests.post(f"{url}/api/v1/pairs/{PAIR}/leases/{ip}/release",
                             json={"confirm": PAIR}, headers=auth(OPERATOR), timeout=30)
        audit = requests.get(f"{url}/api/v1/audit", headers=auth(OPERATOR), timeout=10).json()
    finally:
        stop()
        thread.join(10)
    lines = _stranger_lines(caplog.records)
    print(f"10,000 requests without a token in {took:.1f} s: {statuses}; the database grew "
          f"{grown} bytes; {len(lines)} log lines about them")
    assert statuses == {401: 10000}, statuses
    assert grown < 1024 * 1024, grown
    assert 'omapifo_requests_unauthenticated_total{kind="change"} 10000.0' in metrics
    assert len(lines) <= auditing.STRANGER_LOG_BURST + took / auditing.STRANGER_LOG_EVERY + 1
    assert "more requests without a valid token" in lines[-1] or len(lines) == 1
    assert done.status_code == 200, done.text
    assert [(e["actor"], e["action"], e["outcome"]) for e in audit["entries"]] == \
        [("alice", "release", "done")]
    with FailoverPair(lab.pair_config()) as fresh:  # dhcpd itself, read again
        view = fresh.lease(ip)
    assert LeaseState.ACTIVE not in (view.primary.state, view.secondary.state)


def test_rejected_requests_of_a_caller_with_a_token_are_kept_within_a_bound(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setattr(store, "REJECTED_ROWS", 5)
    app = create_app(offline_config(tmp_path / "db.sqlite3"), poll=False)
    try:
        c = app.test_client()
        url = "/api/v1/pairs/p/peers/secondary/partner-down"
        for i in range(12):  # a reader's token: 403, recorded
            assert c.post(url, json={"confirm": "p", "reason": f"try {i}"},
                          headers=auth(READER)).status_code == 403
        body = c.get("/api/v1/audit", headers=auth(OPERATOR)).get_json()
    finally:
        app.extensions["omapifo"].close()
    assert body["total"] == 5
    assert [e["actor"] for e in body["entries"]] == ["noc"] * 5  # the newest five


def test_rejected_rows_older_than_the_age_bound_go(tmp_path, monkeypatch):
    from datetime import datetime, timedelta, timezone

    from omapifo._audit import AuditRecord, Outcome

    s = store.Store(tmp_path / "db.sqlite3")
    try:
        old = datetime.now(timezone.utc) - timedelta(seconds=store.REJECTED_AGE + 60)
        s.begin(AuditRecord(old, "noc", "p", "secondary", "partner-down",
                            outcome=Outcome.REJECTED, finished_at=old))
        s.begin(AuditRecord(old, "alice", "p", "secondary", "partner-down"))  # an attempt
        now = datetime.now(timezone.utc)
        s.begin(AuditRecord(now, "noc", "p", "secondary", "shutdown",
                            outcome=Outcome.REJECTED, finished_at=now))
        rows, total = s.audit()
    finally:
        s.close()
    # the old rejected row went; an attempt to change is never pruned, however old
    assert [(e.actor, e.action, e.outcome) for e in rows] == [
        ("noc", "shutdown", "rejected"), ("alice", "partner-down", "unknown")]
    assert total == 2
