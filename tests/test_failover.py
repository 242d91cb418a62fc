"""omapifo._failover: both peers' state, guarded partner-down, planned shutdown."""
from __future__ import annotations

import threading
import time

import pytest

from omapifo import (AuditUnavailable, AuthenticationFailed, Evidence, FailoverState as S, Level,
                     OperationRefused, PartnerDownRefused, PeerTimeout, Role)

from .conftest import fresh_state, fresh_state_when, sent, stopped_and_noticed
from .fakes import FakePeer, MemoryAudit, fake_pair
from .recorded import u32

# -- unit: the actions, with fake peers answering recorded failover-state objects -----------
# (the decisions themselves are tested one by one in tests/test_guards.py)


def test_partner_down_when_safe_updates_and_reads_back():
    sec = FakePeer(S.COMMUNICATIONS_INTERRUPTED, S.NORMAL)
    audit = MemoryAudit()
    result = fake_pair(FakePeer(None), sec, audit).partner_down("secondary")
    assert result.done and result.after.secondary.local_state is S.PARTNER_DOWN
    assert result.evidence is Evidence.DHCPD_STOPPED
    assert sec.updates == [("failover-state", [("local-state", u32(4))])]
    assert audit.outcomes == ["done"]


@pytest.mark.parametrize("primary,secondary,why", [
    (FakePeer(S.NORMAL), FakePeer(S.NORMAL), "not communications-interrupted"),
    (FakePeer(S.COMMUNICATIONS_INTERRUPTED), FakePeer(S.COMMUNICATIONS_INTERRUPTED),
     "still answers over OMAPI"),
    (FakePeer(S.PARTNER_DOWN), FakePeer(S.COMMUNICATIONS_INTERRUPTED), "split brain"),
    (FakePeer(None), FakePeer(S.COMMUNICATIONS_INTERRUPTED, S.PARTNER_DOWN), "split brain"),
    (FakePeer(S.NORMAL), FakePeer(None), "does not answer"),
    (FakePeer(None, error=PeerTimeout), FakePeer(S.COMMUNICATIONS_INTERRUPTED),
     "cannot be reached"),
    (FakePeer(None, error=AuthenticationFailed), FakePeer(S.COMMUNICATIONS_INTERRUPTED),
     "answers but cannot be read"),
])
def test_partner_down_refusals_send_nothing_and_are_recorded(primary, secondary, why):
    audit = MemoryAudit()
    with pytest.raises(PartnerDownRefused, match=why):
        fake_pair(primary, secondary, audit).partner_down("secondary", actor="alice")
    assert primary.updates == [] and secondary.updates == []
    assert audit.outcomes == ["refused"] and audit.last.actor == "alice"
    assert why in audit.last.detail


def test_force_needs_a_reason_and_never_skips_the_split_brain_check():
    sec = FakePeer(S.COMMUNICATIONS_INTERRUPTED)
    with pytest.raises(PartnerDownRefused, match="reason"):
        fake_pair(FakePeer(S.COMMUNICATIONS_INTERRUPTED), sec).partner_down("secondary", force=True)
    with pytest.raises(PartnerDownRefused, match="split brain"):
        fake_pair(FakePeer(S.PARTNER_DOWN), sec).partner_down("secondary", force=True,
                                                              reason="PSU died")
    assert sec.updates == []
    result = fake_pair(FakePeer(S.COMMUNICATIONS_INTERRUPTED), sec).partner_down(
        "secondary", force=True, reason="primary's PSU died")
    assert result.done and result.force and result.reason == "primary's PSU died"


def test_dry_run_checks_everything_and_changes_nothing():
    sec = FakePeer(S.COMMUNICATIONS_INTERRUPTED, S.NORMAL)
    audit = MemoryAudit()
    result = fake_pair(FakePeer(None), sec, audit).partner_down("secondary", dry_run=True)
    assert result.dry_run and not result.done and "would move" in result.message
    assert sec.updates == [] and audit.outcomes == ["dry-run"]


def test_already_partner_down_is_success_without_an_update():
    sec = FakePeer(S.PARTNER_DOWN, S.COMMUNICATIONS_INTERRUPTED)
    result = fake_pair(FakePeer(None), sec).partner_down("secondary")
    assert not result.done and "already" in result.message and sec.updates == []


def test_no_audit_sink_or_an_unwritable_one_refuses_and_sends_nothing():
    sec = FakePeer(S.COMMUNICATIONS_INTERRUPTED, S.NORMAL)
    pair = fake_pair(FakePeer(None), sec)
    pair.audit_sink = None
    with pytest.raises(AuditUnavailable, match="audit sink"):
        pair.partner_down("secondary")
    audit = MemoryAudit()
    audit.fail = True
    with pytest.raises(AuditUnavailable, match="locked"):
        fake_pair(FakePeer(None), sec, audit).partner_down("secondary")
    assert sec.updates == [] and sec.local is S.COMMUNICATIONS_INTERRUPTED


def test_the_attempt_is_recorded_before_anything_is_sent():
    sec = FakePeer(S.COMMUNICATIONS_INTERRUPTED, S.NORMAL)
    audit = MemoryAudit()
    seen: list[list[str]] = []
    real_update = sec.update

    def update(*args, **kw):
        seen.append(audit.outcomes)  # what the trail held when the change went out
        return real_update(*args, **kw)
    sec.update = update
    fake_pair(FakePeer(None), sec, audit).partner_down("secondary")
    assert seen == [["unknown"]] and audit.outcomes == ["done"]


def test_no_answer_to_the_update_is_recorded_as_unknown():
    class Mute(FakePeer):
        def update(self, *args, **kw):
            self.updates.append(("failover-state", []))
            raise PeerTimeout("no answer within 3 s")
    sec = Mute(S.COMMUNICATIONS_INTERRUPTED, S.NORMAL)
    audit = MemoryAudit()
    with pytest.raises(PeerTimeout):
        fake_pair(FakePeer(None), sec, audit).partner_down("secondary")
    assert audit.outcomes == ["unknown"] and "PeerTimeout" in audit.last.detail


def test_a_split_brain_after_the_change_is_said_at_once():
    class Racing(FakePeer):
        """The primary moves to partner-down by itself at the moment we send."""
    pri = FakePeer(None)
    sec = FakePeer(S.COMMUNICATIONS_INTERRUPTED, S.NORMAL)
    real_update = sec.update

    def update(*args, **kw):
        pri.local = pri.partner = S.PARTNER_DOWN  # someone else acted on the primary
        return real_update(*args, **kw)
    sec.update = update
    result = fake_pair(pri, sec).partner_down("secondary")
    assert result.done and result.split_brain and result.message.startswith("SPLIT BRAIN")
    assert "runbook" in result.message


def test_shutdown_refused_when_partner_not_normal():
    with pytest.raises(OperationRefused, match="nobody"):
        fake_pair(FakePeer(S.NORMAL), FakePeer(None)).shutdown("primary")


# -- integration: the real pair ------------------------------------------------------------


@pytest.mark.integration
def test_state_of_both_peers_is_normal(pair):
    st = pair.state()
    assert st.primary.local_state is S.NORMAL and st.secondary.local_state is S.NORMAL
    assert str(st.secondary.partner_state) == "normal"
    assert st.primary.since.tzinfo is not None and st.primary.mclt == 15
    assert st.primary.reachable and st.secondary.error is None
    assert st.health.level is Level.OK


@pytest.mark.integration
def test_partner_down_while_both_up_is_refused(healthy_lab, pair):
    with pytest.raises(PartnerDownRefused, match="not communications-interrupted"):
        pair.partner_down("secondary")
    assert pair.state().secondary.local_state is S.NORMAL


@pytest.mark.integration
def test_primary_dies_partner_down_on_secondary_then_recovery(healthy_lab, pair, log_mark):
    lab = healthy_lab
    lab.stop(Role.PRIMARY)
    lab.wait_states(None, S.COMMUNICATIONS_INTERRUPTED, timeout=30)
    st = pair.state()
    assert not st.primary.reachable and st.primary.error
    assert st.secondary.local_state is S.COMMUNICATIONS_INTERRUPTED
    assert st.health.level is Level.CRITICAL
    assert any("communications-interrupted" in r for r in st.health.reasons)

    dry = pair.partner_down("secondary", dry_run=True)
    assert dry.dry_run and pair.state().secondary.local_state is S.COMMUNICATIONS_INTERRUPTED
    result = pair.partner_down("secondary")
    assert result.done
    now = fresh_state(lab)  # both peers read afresh, not partner_down()'s own answer
    assert now.secondary.local_state is S.PARTNER_DOWN
    assert now.primary.evidence is Evidence.DHCPD_STOPPED
    assert "I move from communications-interrupted to partner-down" in \
        log_mark.since(Role.SECONDARY)

    lab.start(Role.PRIMARY, wait=False)
    lab.wait_normal(timeout=120)
    assert fresh_state(lab).health.ok


@pytest.mark.integration
def test_planned_shutdown_of_the_primary(healthy_lab, pair, log_mark):
    with pytest.raises(OperationRefused):
        pair.shutdown("primary", dry_run=True, force=True)  # force needs a reason
    dry = pair.shutdown("primary", dry_run=True)
    assert dry.dry_run and healthy_lab.running(Role.PRIMARY)
    result = pair.shutdown("primary", wait=20)
    assert result.done
    _wait_stopped(healthy_lab, Role.PRIMARY)
    assert "I move from normal to shutdown" in log_mark.since(Role.PRIMARY)
    # both peers read afresh, not shutdown()'s own answer: the primary's host refuses the
    # connection, the secondary has noticed (8-12 s after the shutdown, measured)
    fresh_state_when(healthy_lab, stopped_and_noticed(Role.PRIMARY), timeout=60,
                     what="the primary stopped and the secondary noticing")


def test_on_both_asks_the_two_peers_at_once_and_keeps_their_order():
    """A dead peer's timeout must not delay the live one: the two calls overlap."""
    both_inside = threading.Barrier(2, timeout=5)  # breaks unless both calls run together

    def ask(role: Role) -> str:
        both_inside.wait()
        return str(role)

    assert fake_pair(FakePeer(S.NORMAL), FakePeer(S.NORMAL)).on_both(ask) == \
        ("primary", "secondary")


def _wait_stopped(lab, role: Role, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while lab.running(role):
        assert time.monotonic() < deadline, f"the {role}'s dhcpd did not exit"
        time.sleep(0.2)


@pytest.mark.integration
def test_refused_shutdowns_send_nothing_and_a_forced_one_stops_the_server(
        healthy_lab, recording_pair, log_mark, audit_log):
    lab, pair = healthy_lab, recording_pair
    lab.stop(Role.PRIMARY)
    lab.wait_states(None, S.COMMUNICATIONS_INTERRUPTED, timeout=30)
    with pytest.raises(OperationRefused, match="does not answer"):
        pair.shutdown("primary")  # the target itself is down
    with pytest.raises(OperationRefused, match="nobody might be left"):
        pair.shutdown("secondary")  # its partner is stopped: nobody would serve
    assert sent(pair) == []
    assert fresh_state(lab).secondary.local_state is S.COMMUNICATIONS_INTERRUPTED
    assert lab.running(Role.SECONDARY)
    result = pair.shutdown("secondary", force=True, reason="taking both down for a move",
                           wait=5)
    assert result.done and result.force
    assert [t for t, _ in sent(pair)] == ["control"]
    _wait_stopped(lab, Role.SECONDARY)
    now = fresh_state(lab)  # dhcpd itself, read afresh: both hosts refuse the connection
    assert (now.primary.evidence, now.secondary.evidence) == (Evidence.DHCPD_STOPPED,
                                                              Evidence.DHCPD_STOPPED)
    # measured: a server in communications-interrupted logs no "move to shutdown" when the
    # control object stops it (one in normal does); it just closes its interfaces and exits
    assert "Disabling output on LPF/eth0" in log_mark.since(Role.SECONDARY)
    assert [(str(r.outcome), r.force) for r in audit_log.records()] == [
        ("refused", False), ("refused", False), ("done", True)]
