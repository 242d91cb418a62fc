"""The guards: every decision from evidence (unit), then the fault matrix on the real pair.

The matrix (issue 12): partner running but cut off, partner stopped, partner answering
with another key, the two peers cut off from each other while forced partner-downs race
from the service and the command line. Every case checks the real dhcpd afterwards with
a fresh read, not the action's own return value.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

import pytest

from omapifo import (Endpoint, Evidence, FailoverPair, FailoverState as S, JsonLinesAudit,
                     OmapiKey, OmapiPeer, PairState, PartnerDownRefused, PeerView, ProbeResult,
                     Role,
                     _guards as guards, load_config)
from omapifo import _wire as wire
from omapifo.api import create_app
from omapifo._health import assess
from omapifo._omapi import u32

from .api.conftest import OPERATOR, auth, service_config
from .conftest import fresh_state
from .recorded import failover_state

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
KIND = {Evidence.DHCPD_STOPPED: "ConnectionRefused", Evidence.SILENT: "PeerTimeout",
        Evidence.ANSWERS_BADLY: "AuthenticationFailed", Evidence.FILTERED: "ConnectionRejected"}


def view(role: Role, local: S | Evidence, partner: S | None = None) -> PeerView:
    ep = Endpoint("198.18.10.253" if role is Role.PRIMARY else "198.18.60.253")
    if isinstance(local, Evidence):
        return PeerView(role, ep, None, f"fake {KIND[local]}", KIND[local])
    status = wire.failover_status("p", failover_state(local, partner or S.NORMAL))
    return PeerView(role, ep, status)


def state(primary: S | Evidence, secondary: S | Evidence,
          secondary_sees: S | None = None) -> PairState:
    p, s = view(Role.PRIMARY, primary), view(Role.SECONDARY, secondary, secondary_sees)
    return PairState("p", p, s, NOW, assess(p, s, NOW))


CI = S.COMMUNICATIONS_INTERRUPTED

# (primary, secondary, force) -> does partner-down of the secondary proceed, and why
PARTNER_DOWN_TABLE = [
    (Evidence.DHCPD_STOPPED, CI, False, True, "refused the connection"),
    (Evidence.SILENT, CI, False, False, "cannot be reached from here"),
    (Evidence.SILENT, CI, True, True, "forced"),
    (Evidence.FILTERED, CI, False, False, "A rejecting firewall is not a stopped dhcpd"),
    (Evidence.FILTERED, CI, True, True, "forced: the primary is behind a filter"),
    (Evidence.ANSWERS_BADLY, CI, False, False, "answers but cannot be read"),
    (Evidence.ANSWERS_BADLY, CI, True, False, "answers but cannot be read"),
    (CI, CI, False, False, "still answers over OMAPI"),
    (CI, CI, True, True, "forced"),
    (S.PARTNER_DOWN, CI, True, False, "split brain"),
    (Evidence.DHCPD_STOPPED, S.NORMAL, True, False, "not communications-interrupted"),
    (S.NORMAL, Evidence.SILENT, True, False, "does not answer"),
]


@pytest.mark.parametrize("primary,secondary,force,proceeds,why", PARTNER_DOWN_TABLE)
def test_partner_down_decisions(primary, secondary, force, proceeds, why):
    decision = guards.partner_down(Role.SECONDARY, state(primary, secondary), force=force)
    assert decision.proceed is proceeds and why in decision.why


def probed(role: Role, answered: bool) -> ProbeResult:
    return ProbeResult(role, "198.18.10.253", "02:6f:6d:70:00:01", 1, NOW, answered,
                       offered="198.18.9.40" if answered else None,
                       latency=1.0 if answered else None)


# every partner evidence under which partner-down of the secondary could otherwise proceed
PROCEEDS = [(primary, force) for primary, secondary, force, proceeds, _ in PARTNER_DOWN_TABLE
            if proceeds]


@pytest.mark.parametrize("primary,force", PROCEEDS)
def test_a_partner_that_answered_a_probe_is_never_put_down_even_forced(primary, force):
    decision = guards.partner_down(Role.SECONDARY, state(primary, CI), force=force,
                                   probe=probed(Role.PRIMARY, True))
    assert not decision.proceed and not decision.no_op
    for words in ("the primary answered a DHCP probe at 12:00:00 UTC", "offered 198.18.9.40",
                  "1000 ms", "Force does not override this"):
        assert words in decision.why, decision.why


@pytest.mark.parametrize("primary,force", PROCEEDS)
def test_a_partner_that_did_not_answer_decides_nothing_but_is_stated(primary, force):
    without = guards.partner_down(Role.SECONDARY, state(primary, CI), force=force)
    decision = guards.partner_down(Role.SECONDARY, state(primary, CI), force=force,
                                   probe=probed(Role.PRIMARY, False))
    assert decision.proceed is without.proceed is True
    assert decision.why == f"{without.why}; the primary did not answer a DHCP probe sent at " \
        "12:00:00 UTC"


def test_a_probe_of_the_wrong_server_is_a_bug_not_evidence():
    with pytest.raises(ValueError, match="must be of the primary"):
        guards.partner_down(Role.SECONDARY, state(Evidence.DHCPD_STOPPED, CI), force=False,
                            probe=probed(Role.SECONDARY, True))


def test_a_silent_partner_refusal_says_what_to_check_and_how_to_force():
    decision = guards.partner_down(Role.SECONDARY, state(Evidence.SILENT, CI), force=False)
    for words in ("console", "power", "failover link", "--force --reason"):
        assert words in decision.why


def test_a_filtered_partner_refusal_names_what_was_seen_and_how_to_force():
    decision = guards.partner_down(Role.SECONDARY, state(Evidence.FILTERED, CI), force=False)
    for words in ("fake ConnectionRejected", "may be alive and serving", "nft list ruleset",
                  "--force --reason"):
        assert words in decision.why


def test_the_secondary_believing_its_partner_in_partner_down_is_a_split_brain_risk():
    decision = guards.partner_down(Role.SECONDARY,
                                   state(Evidence.SILENT, CI, secondary_sees=S.PARTNER_DOWN),
                                   force=True)
    assert not decision.proceed and "split brain" in decision.why


@pytest.mark.parametrize("primary,secondary,force,proceeds", [
    (S.NORMAL, S.NORMAL, False, True),
    (S.NORMAL, CI, False, False),
    (S.NORMAL, Evidence.DHCPD_STOPPED, False, False),
    (S.NORMAL, Evidence.SILENT, False, False),
    (S.NORMAL, Evidence.FILTERED, False, False),
    (S.NORMAL, Evidence.FILTERED, True, True),
    (S.NORMAL, Evidence.ANSWERS_BADLY, False, False),
    (S.NORMAL, Evidence.SILENT, True, True),
    (Evidence.SILENT, S.NORMAL, True, False),  # the target itself must answer
])
def test_shutdown_decisions(primary, secondary, force, proceeds):
    assert guards.shutdown(Role.PRIMARY, state(primary, secondary), force=force).proceed \
        is proceeds


def test_release_is_refused_while_a_peer_answers_badly():
    ok = guards.release(Role.PRIMARY, {Role.PRIMARY: Evidence.READABLE,
                                       Role.SECONDARY: Evidence.SILENT}, {})
    bad = guards.release(Role.PRIMARY, {Role.PRIMARY: Evidence.READABLE,
                                        Role.SECONDARY: Evidence.ANSWERS_BADLY},
                         {Role.SECONDARY: "wrong key"})
    assert ok.proceed and not bad.proceed and "wrong key" in bad.why


# -- integration: the fault matrix on the real pair ----------------------------------------

PAIR = "classroom-1-6"


@pytest.fixture
def partitioned(healthy_lab):
    """Both servers running and reachable from here, cut off from each other only, both
    communications-interrupted; mended (and normal again) afterwards."""
    lab = healthy_lab
    try:
        lab.partition()
        lab.wait_states(CI, CI, timeout=lab.settings.max_response_delay + 45)
        yield lab
    finally:
        unpartition(lab)


def unpartition(lab) -> None:
    """Mend a partition, remove the lab's firewall rules, undo a partner-down a test left,
    and wait until both are normal again (restarting both if they do not get there)."""
    lab.mend()
    lab.unfilter()
    with FailoverPair(lab.pair_config()) as pair:
        for role in Role:
            if pair.state().peer(role).local_state is S.PARTNER_DOWN:
                reset_to_interrupted(pair, role)
    try:
        lab.wait_normal(timeout=60)
    except Exception:  # noqa: BLE001 - restart both, which always ends in normal
        for role in Role:
            lab.stop(role)
        for role in Role:
            lab.start(role, wait=False)
        lab.wait_normal(timeout=120)


def reset_to_interrupted(pair: FailoverPair, role: Role) -> None:
    """Back from partner-down to communications-interrupted (dhcpd applies any local-state
    written over OMAPI; measured: it then stays there while the partition lasts)."""
    pair.peer(role).update("failover-state", [("name", PAIR.encode())],
                           [("local-state", u32(CI))])


@pytest.mark.integration
def test_partner_running_but_cut_off_needs_force_and_both_are_audited(healthy_lab, pair,
                                                                      audit_log):
    lab = healthy_lab
    try:
        lab.cut(Role.PRIMARY)
        lab.wait_states(None, CI, timeout=lab.settings.max_response_delay + 45)
        with pytest.raises(PartnerDownRefused, match="cannot be reached from here"):
            pair.partner_down("secondary", actor="alice")
        assert fresh_state(lab).secondary.local_state is CI  # dhcpd itself, read again
        assert lab.running(Role.PRIMARY)  # it was alive all along, serving whoever reaches it
        result = pair.partner_down("secondary", force=True, reason="primary's rack lost power",
                                   actor="alice")
        assert result.evidence is Evidence.SILENT
        assert fresh_state(lab).secondary.local_state is S.PARTNER_DOWN
        records = audit_log.records()
        assert [(r.actor, str(r.outcome), r.force) for r in records] == [
            ("alice", "refused", False), ("alice", "done", True)]
        assert records[1].reason == "primary's rack lost power"
    finally:
        lab.heal(Role.PRIMARY)
    lab.wait_normal(timeout=120)


@pytest.mark.integration
def test_partner_stopped_partner_down_proceeds_without_force(healthy_lab, pair, audit_log):
    lab = healthy_lab
    lab.stop(Role.PRIMARY)
    lab.wait_states(None, CI, timeout=30)
    assert fresh_state(lab).primary.error_kind == "ConnectionRefused"
    result = pair.partner_down("secondary")
    assert result.done and result.evidence is Evidence.DHCPD_STOPPED
    assert fresh_state(lab).secondary.local_state is S.PARTNER_DOWN
    assert [str(r.outcome) for r in audit_log.records()] == ["done"]
    lab.start(Role.PRIMARY, wait=False)
    lab.wait_normal(timeout=120)


@pytest.mark.integration
def test_partner_answering_with_another_key_is_refused_even_with_force(partitioned, audit_log):
    lab = partitioned
    cfg = lab.pair_config()
    wrong = OmapiKey(cfg.key.name, "d3Jvbmcgc2VjcmV0IGZvciB0aGUgcHJpbWFyeQ==", cfg.key.algorithm)
    peers = {Role.PRIMARY: OmapiPeer(cfg.primary.host, cfg.primary.port, wrong,
                                     label="primary", timeout=cfg.timeout),
             Role.SECONDARY: OmapiPeer(cfg.secondary.host, cfg.secondary.port, cfg.key,
                                       label="secondary", timeout=cfg.timeout)}
    with FailoverPair(cfg, peers=peers, audit=audit_log) as pair:
        assert pair.state().primary.evidence is Evidence.ANSWERS_BADLY
        for force in (False, True):
            with pytest.raises(PartnerDownRefused, match="answers but cannot be read"):
                pair.partner_down("secondary", force=force, reason="told the primary is dead")
    st = fresh_state(lab)
    assert st.secondary.local_state is CI and st.primary.local_state is CI
    assert [str(r.outcome) for r in audit_log.records()] == ["refused", "refused"]


def _wait_for_attempt(log: JsonLinesAudit, count: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while len(log.records()) < count:
        assert time.monotonic() < deadline, "the command line never recorded its attempt"
        time.sleep(0.01)


def _post(client, role: Role, n: int, got: dict) -> None:
    got["r"] = client.post(f"/api/v1/pairs/{PAIR}/peers/{role}/partner-down",
                           json={"confirm": PAIR, "force": True, "reason": f"race round {n}"},
                           headers=auth(OPERATOR))


@pytest.mark.integration
@pytest.mark.slow
def test_racing_forced_partner_downs_from_service_and_cli_never_split_brain(partitioned,
                                                                           tmp_path):
    """20 rounds: the command line (direct OMAPI) and the service force partner-down on
    opposite peers at once. Both are slowed between deciding and sending
    (OMAPIFO_FAULTS before-send=sleep), so without the pair lock both would pass their
    guards and both would send: a split brain. With it, the second re-reads under the
    lock, sees the first's partner-down, and is refused."""
    from omapifo import _faults as faults

    lab = partitioned
    cfg_path = service_config(lab.config_path, tmp_path, tmp_path / "svc.sqlite3")
    app = create_app(load_config(cfg_path), poll=False)
    client = app.test_client()
    cli_log = JsonLinesAudit(tmp_path / "cli-audit.log")
    env = {**os.environ, "OMAPIFO_FAULTS": "before-send=sleep:0.4"}
    faults.configure("before-send=sleep:0.4")
    outcomes = []
    try:
        with FailoverPair(lab.pair_config()) as reader:
            for n in range(20):
                cli_role, svc_role = (Role.SECONDARY, Role.PRIMARY) if n % 2 == 0 else \
                    (Role.PRIMARY, Role.SECONDARY)
                cli = subprocess.Popen(
                    [sys.executable, "-m", "omapifo.clients.cli", "-c", str(lab.config_path),
                     "partner-down", PAIR, str(cli_role), "--force", "--reason",
                     f"race round {n}", "--yes", "--audit-log", str(cli_log.path)],
                    env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                _wait_for_attempt(cli_log, n + 1)  # the command line is under way
                got: dict = {}
                t = threading.Thread(target=_post, args=(client, svc_role, n, got))
                t.start()
                out, _ = cli.communicate(timeout=60)
                t.join(60)
                st = reader.state()
                down = [r for r in Role if st.peer(r).local_state is S.PARTNER_DOWN]
                assert len(down) == 1, (n, st.primary.local_state, st.secondary.local_state,
                                        out, got["r"].get_json())
                outcomes.append((cli.returncode, got["r"].status_code))
                reset_to_interrupted(reader, down[0])
                lab.wait_states(CI, CI, timeout=10)
    finally:
        faults.configure(None)
        app.extensions["omapifo"].close()
    # each round one side did it and the other was refused (exit 1 / HTTP 409)
    assert all(sorted((code == 0, status == 200)) == [False, True] for code, status in outcomes), \
        outcomes


def test_partner_down_in_a_split_brain_is_refused_not_a_no_op():
    """Both already in partner-down: "nothing to do" would answer success (HTTP 200, exit
    0) while both hand out every address; it is a refusal that says SPLIT BRAIN."""
    decision = guards.partner_down(Role.SECONDARY, state(S.PARTNER_DOWN, S.PARTNER_DOWN),
                                   force=True)
    assert not decision.proceed and not decision.no_op and "SPLIT BRAIN" in decision.why


def test_release_is_refused_in_a_split_brain():
    seen = {Role.PRIMARY: Evidence.READABLE, Role.SECONDARY: Evidence.READABLE}
    assert guards.release(Role.PRIMARY, seen, {}).proceed
    decision = guards.release(Role.PRIMARY, seen, {}, split_brain=True)
    assert not decision.proceed and "SPLIT BRAIN" in decision.why
