"""What an admin fears most, on the real pair (issue 23, item 5; the split brain is in
tests/api/test_split_brain.py).

- After partner-down and one MCLT the survivor really serves the stopped partner's share
  of the pool to new clients; after the recovery no address is active for two MACs
  (both peers read afresh over OMAPI, and both dhcpd.leases).
- A command killed (SIGKILL) in the middle of a change of two steps: between the two peers
  of a host add, and between a maintenance's shutdown and its partner-down (the fault
  point after-send of omapifo._faults, as tests/api/test_crashes.py uses it). Afterwards
  the audit says the attempt's outcome is unknown, and ``omapifo host show`` or
  ``omapifo doctor`` names the state each peer is in, as dhcpd reads afresh.

Measured on the lab (dhcpd 4.4.3, split 128, mclt 15): a survivor in partner-down hands
out its own share (``backup`` on the secondary) first, and the partner's (``free``) only
once its own is used up and MCLT has passed since the partner-down. A first lease lasts
one MCLT (15 s here), also in normal; the lab's clients do not renew, so theirs expire.
A control-object shutdown of a peer while its partner is up: the peer refuses OMAPI at
once, logs "I move from normal to shutdown", later "shutdown to recover", and exits 8-17 s
after the shutdown (the partner notices communications-interrupted before the exit).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from omapifo import (Evidence, FailoverPair, FailoverState as S, JsonLinesAudit, LeaseState,
                     NotFound, Role, load_config)
from omapifo._dhcpdconf import DhcpdConfError
from omapifo._leasefile import read_leases

from .api.conftest import OPERATOR, auth, service_config, wait_for
from .api.test_actions import audit_rows, free_port, serve
from .clients.runner import cli_mode, run, service_url  # noqa: F401 - the command line's fixtures
from .conftest import (fresh_host, fresh_leases, fresh_state, fresh_state_when, restore,
                       stopped_and_noticed)

pytestmark = pytest.mark.integration
PAIR = "classroom-1-6"
CI = S.COMMUNICATIONS_INTERRUPTED


def shares(lab, n: int) -> tuple[set[str], set[str]]:
    """(the primary's share, the secondary's share) of client subnet ``n``'s pool, as both
    peers read now: dhcpd's failover gives ``free`` addresses to the primary and
    ``backup`` ones to the secondary (both peers say the same of each)."""
    net = lab.layout.client_net(n)
    rows = [e for e in fresh_leases(lab).leases if e.ip in net]
    return ({str(e.ip) for e in rows if e.primary_state is e.secondary_state is LeaseState.FREE},
            {str(e.ip) for e in rows
             if e.primary_state is e.secondary_state is LeaseState.BACKUP})


def active_bindings(lab) -> dict[str, dict[str, str]]:
    """Every pool address active anywhere: {ip: {source: MAC}}, the sources being each
    peer over OMAPI (read afresh) and each peer's dhcpd.leases (its last record)."""
    out: dict[str, dict[str, str]] = {}
    files = {role: read_leases(lab.leases_path(role)) for role in Role}  # DhcpdConfError
    with FailoverPair(lab.pair_config()) as p:
        for entry in p.leases().leases:
            view = p.lease(str(entry.ip))
            for role in Role:
                lease = view.peer(role)
                if lease is not None and lease.state is LeaseState.ACTIVE:
                    out.setdefault(str(entry.ip), {})[f"{role} omapi"] = \
                        lease.hardware_address or "?"
                rec = files[role].get(entry.ip)
                if rec is not None and rec.state is LeaseState.ACTIVE:
                    out.setdefault(str(entry.ip), {})[f"{role} dhcpd.leases"] = \
                        rec.hardware_address or "?"
    return out


def test_after_partner_down_and_one_mclt_the_survivor_serves_the_partners_share(
        healthy_lab, run, log_mark):  # noqa: F811
    lab = healthy_lab
    # the subnet whose secondary's share is smallest: the fewest clients to use it up
    n = min(range(1, 5), key=lambda k: len(shares(lab, k)[1]))
    primarys, own = shares(lab, n)
    assert primarys, f"subnet {n} has no address in the primary's share"
    notes = [f"client subnet {n}: the primary's share {len(primarys)}, the secondary's "
             f"{len(own)}"]  # printed at the end: the run fixture captures what comes before

    # the primary's planned maintenance from the command line; read back afresh
    code, out, err = run("maintenance", "start", PAIR, "primary", "--yes",
                         "--reason", "issue 23: the partner's share")
    assert code == 0, out + err
    st = fresh_state_when(lab, lambda s: stopped_and_noticed(Role.PRIMARY)(s)
                          and s.secondary.local_state is S.PARTNER_DOWN, timeout=60,
                          what="the primary stopped, the secondary in partner-down")
    assert [(r.action, str(r.outcome)) for r in JsonLinesAudit(run.audit).records()] == [
        ("maintenance", "done")]
    mclt_over = st.secondary.since + timedelta(seconds=st.secondary.mclt)

    clients: list[tuple[str, str]] = []  # (ip, mac) handed out while the primary is down
    try:
        # new clients, one MAC each: first the survivor's own share, then (MCLT after the
        # partner-down) the primary's; bounded by the pool's 32 addresses
        for i in range(32):
            if i >= len(own):  # its own share is used up: wait out the MCLT if need be
                left = (mclt_over - datetime.now(timezone.utc)).total_seconds()
                time.sleep(max(0.0, left + 0.5))
            mac = f"02:00:00:5c:{n:02x}:{i:02x}"
            ip = lab.client(n, mac=mac)
            clients.append((ip, mac))
            if ip in primarys:
                break
        got = [("primary's" if ip in primarys else "own" if ip in own else "other")
               for ip, _ in clients]
        notes.append("handed out while the primary was down: "
                     f"{[(ip, g) for (ip, _), g in zip(clients, got, strict=True)]}")
        assert got[-1] == "primary's", got
        assert datetime.now(timezone.utc) >= mclt_over
        ip, mac = clients[-1]
        # the survivor serves it (its own read and its own file)
        with FailoverPair(lab.pair_config()) as p:
            served = p.lease(ip).secondary
        assert served and served.state is LeaseState.ACTIVE and served.hardware_address == mac

        lab.start(Role.PRIMARY, wait=False)
        code, out, err = run("maintenance", "end", PAIR, "primary", "--wait", "--timeout", "180")
        assert code == 0, out + err
        now = fresh_state(lab)
        assert (now.primary.local_state, now.secondary.local_state) == (S.NORMAL, S.NORMAL)

        # after the recovery. A lease handed out in partner-down lasts one MCLT (dhcpd may
        # not promise more than its partner could know of; measured: 15 s), so by now the
        # clients' leases have expired, as a client that does not renew loses it. The last
        # three clients come back (the one of the primary's share among them): each gets
        # an address that is active for its MAC on both peers (read afresh) and in both
        # dhcpd.leases, and no address is active for two MACs anywhere
        for _, mac in clients[-3:]:
            ip = lab.client(n, mac=mac)

            def bound(ip: str = ip, mac: str = mac) -> dict[str, dict[str, str]] | None:
                try:
                    seen = active_bindings(lab)
                except DhcpdConfError as exc:  # read while dhcpd was writing a record
                    print(f"read again: {exc}")
                    return None
                return seen if set(seen.get(ip, {}).values()) == {mac} \
                    and len(seen[ip]) == 4 else None
            seen = wait_for(bound, 10, step=0.2)
            assert seen, (ip, mac, active_bindings(lab).get(ip))
            double = {a: macs for a, macs in seen.items() if len(set(macs.values())) > 1}
            assert double == {}, double
            notes.append(f"after the recovery {mac} got {ip}, active for it in all four places")
    finally:
        print("\n".join(notes))
        restore(lab)


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def test_killed_between_the_two_peers_of_a_host_add(healthy_lab, run, tmp_path):  # noqa: F811
    lab = healthy_lab
    name, mac = "hx-kill", "02:00:00:5d:00:01"
    ip = str(lab.layout.client_net(2).network_address + 12)
    audit = tmp_path / "killed-audit.log"
    env = {**os.environ, "OMAPIFO_FAULTS": "after-send=hang", "OMAPIFO_AUDIT_LOG": str(audit)}
    proc = subprocess.Popen([sys.executable, "-m", "omapifo.clients.cli", "-c",
                             str(lab.config_path), "host", "add", PAIR, name, ip, "--mac", mac,
                             "--yes"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        try:
            # sent to the primary, hanging before the secondary: dhcpd shows it, read afresh
            half = wait_for(lambda: (v := fresh_host(lab, name)) is not None and v, 30)
            assert half and half.primary is not None and half.secondary is None, half
            _kill(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        # the audit: the attempt, never finished
        assert [(r.action, r.peer, str(r.outcome), r.finished_at)
                for r in JsonLinesAudit(audit).records()] == [("add host", name, "unknown", None)]
        # the next command names each peer's state, as dhcpd does
        code, out, err = run("host", "show", PAIR, name)
        assert code == 0, err
        rows = {line.split()[0]: line for line in out.splitlines()
                if line.split()[:1] in (["primary"], ["secondary"])}
        assert "peers DISAGREE" in out, out
        assert name in rows["primary"] and ip in rows["primary"] and mac in rows["primary"], out
        assert "not there" in rows["secondary"], out
        now = fresh_host(lab, name)
        assert now.primary is not None and now.secondary is None
    finally:
        with FailoverPair(lab.pair_config()) as p:
            for peer in p.peers.values():
                try:
                    peer.delete("host", [("name", name.encode())])
                except NotFound:
                    pass
    assert fresh_host(lab, name) is None


def test_killed_between_a_maintenances_shutdown_and_its_partner_down(healthy_lab, run,  # noqa: F811
                                                                     tmp_path, log_mark):
    lab = healthy_lab
    cfg = service_config(lab.config_path, tmp_path, tmp_path / "omapifo.sqlite3")
    db = load_config(cfg).service.database
    port = free_port()
    proc = serve(cfg, port, faults="after-send=hang")
    url = f"http://127.0.0.1:{port}/api/v1/pairs/{PAIR}/peers/secondary/maintenance"

    def post() -> None:
        try:
            requests.post(url, json={"confirm": PAIR}, headers=auth(OPERATOR), timeout=120)
        except requests.ConnectionError:
            pass  # killed under this request, as the test means it to be
    try:
        threading.Thread(target=post, daemon=True).start()
        assert wait_for(lambda: audit_rows(db), timeout=20), "no attempt recorded"
        # the shutdown was sent (the service hangs right after it): the secondary stops,
        # the primary notices; read afresh, then the service is killed there
        fresh_state_when(lab, stopped_and_noticed(Role.SECONDARY), timeout=60,
                         what="the secondary stopped and the primary noticing")
        _kill(proc)
        # the process itself goes a few seconds later (measured: 8-17 s after the shutdown)
        assert wait_for(lambda: not lab.running(Role.SECONDARY), 60), "dhcpd still runs"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    port = free_port()
    proc = serve(cfg, port)  # the service again, on the same database
    try:
        entries = requests.get(f"http://127.0.0.1:{port}/api/v1/audit",
                               headers=auth(OPERATOR), timeout=10).json()["entries"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert [(e["action"], e["peer"], e["outcome"], e["finished_at"]) for e in entries] == [
        ("maintenance", "secondary", "unknown", None)]

    # doctor names each peer's state and the step that was not taken
    code, out, err = run("doctor", PAIR, "--no-scan")
    assert code == 1, out + err
    live = {line.split()[0]: line for line in out.splitlines()
            if line.strip().split()[:1] in (["primary"], ["secondary"])}
    assert "communications-interrupted for" in live["primary"], out
    assert "does not answer OMAPI" in live["secondary"], out
    assert f"omapifo partner-down {PAIR} primary" in out.split("next step:")[1], out
    # dhcpd itself: the partner-down was never sent
    now = fresh_state(lab)
    assert now.primary.local_state is CI and now.secondary.evidence is Evidence.DHCPD_STOPPED
    assert "to partner-down" not in log_mark.since(Role.PRIMARY)
