"""Crashes on purpose: the service SIGKILLed at the two moments that matter, for every
action, and the audit trail and the real dhcpd agree afterwards.

The fault points (omapifo._faults, set through OMAPIFO_FAULTS, off otherwise) make the
service hang right before it sends the change (the attempt recorded, nothing sent) or
right after (sent, the outcome not recorded); the test SIGKILLs it there, starts it
again and reads both the audit trail and dhcpd. The two must agree in both directions:
a change dhcpd shows is on record (as unknown: nobody saw it answered), and a record
that claims more than an attempt (done) means dhcpd changed; an attempt killed before
sending left dhcpd as it was.
"""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import requests

from omapifo import FailoverState, LeaseState, Role, load_config

from ..conftest import LogMark, fresh_lease, fresh_state
from .conftest import OPERATOR, auth, wait_for
from .test_actions import PAIR, audit_rows, free_port, serve

pytestmark = pytest.mark.integration
CI = FailoverState.COMMUNICATIONS_INTERRUPTED


def _prepare(lab, action: str):
    """The lab ready for ``action`` to succeed; returns (path, changed? read afresh from
    dhcpd, what dhcpd logs when it takes the change)."""
    if action == "partner-down":
        lab.stop(Role.PRIMARY)
        lab.wait_states(None, CI, timeout=30)

        def changed() -> bool:
            return fresh_state(lab).secondary.local_state is FailoverState.PARTNER_DOWN
        return f"/api/v1/pairs/{PAIR}/peers/secondary/partner-down", changed, \
            "I move from communications-interrupted to partner-down"
    if action == "shutdown":
        return f"/api/v1/pairs/{PAIR}/peers/primary/shutdown", \
            lambda: not lab.running(Role.PRIMARY), "I move from normal to shutdown"
    ip = lab.client(1, mac="02:00:00:dd:00:01")

    def released() -> bool:
        view = fresh_lease(lab, ip)
        return LeaseState.ACTIVE not in (view.primary.state, view.secondary.state)
    return f"/api/v1/pairs/{PAIR}/leases/{ip}/release", released, \
        f"lease {ip} state changed from active to released"


def _post(url: str) -> None:
    try:
        requests.post(url, json={"confirm": PAIR}, headers=auth(OPERATOR), timeout=60)
    except requests.ConnectionError:
        pass  # killed under this request, as the test means it to be


@pytest.mark.parametrize("point", ["before-send", "after-send"])
@pytest.mark.parametrize("action", ["partner-down", "shutdown", "release"])
def test_killed_mid_action_the_audit_and_dhcpd_agree(healthy_lab, service_cfg, action, point):
    lab = healthy_lab
    db = load_config(service_cfg).service.database
    path, changed, logged = _prepare(lab, action)
    mark = LogMark(lab)
    port = free_port()
    proc = serve(service_cfg, port, faults=f"{point}=hang")
    try:
        threading.Thread(target=_post, args=(f"http://127.0.0.1:{port}{path}",),
                         daemon=True).start()
        assert wait_for(lambda: audit_rows(db), timeout=20), "no attempt recorded"
        if point == "after-send":  # sent: wait until dhcpd shows it, then kill
            assert wait_for(changed, timeout=20), "the change never reached dhcpd"
        else:
            time.sleep(1.0)  # time to send, were anything going to be sent (not an assertion)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    port = free_port()
    proc = serve(service_cfg, port)
    try:
        entries = requests.get(f"http://127.0.0.1:{port}/api/v1/audit",
                               headers=auth(OPERATOR), timeout=10).json()["entries"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    # the attempt is on record and claims no more than an attempt: nobody saw it answered
    assert [(e["action"], e["outcome"], e["finished_at"]) for e in entries] == [
        (action, "unknown", None)]
    # and dhcpd, two ways: read afresh over OMAPI, and its own log (before the restart
    # above the change had been seen already, or the service was dead well before it)
    assert changed() is (point == "after-send"), (action, point, entries)
    assert (logged in mark.both()) is (point == "after-send"), (action, point, mark.both())
