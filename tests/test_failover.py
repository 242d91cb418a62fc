"""omapifo.failover: both peers' state, guarded partner-down, planned shutdown."""
from __future__ import annotations

import base64
import logging
import threading
import time

import pytest

from omapifo import (Endpoint, FailoverPair, FailoverState as S, Level, OmapiKey,
                     OperationRefused, PairConfig, PartnerDownRefused, PeerUnreachable, Role)
from omapifo.omapi import OmapiObject

from .recorded import failover_state, u32

# -- unit: the guard, with fake peers answering recorded failover-state objects -----------


class FakePeer:
    def __init__(self, local: S | None, partner: S | None = None) -> None:
        self.local, self.partner = local, partner if partner is not None else local
        self.updates: list[tuple[str, list]] = []

    def open(self, type_, lookup, *, operation=None):
        if self.local is None:
            raise PeerUnreachable("connection refused", peer="fake", operation=operation)
        return OmapiObject(1, failover_state(self.local, self.partner))

    def update(self, type_, lookup, changes, *, operation=None, expect_answer=True):
        self.updates.append((type_, changes))
        if type_ == "failover-state":
            self.local = S(int.from_bytes(dict(changes)["local-state"], "big"))
        return OmapiObject(1, {})

    def close(self):
        pass


def fake_pair(primary: FakePeer, secondary: FakePeer) -> FailoverPair:
    key = OmapiKey("k", base64.b64encode(b"x" * 16).decode())
    pair = FailoverPair(PairConfig("p", Endpoint("198.18.10.253"), Endpoint("198.18.60.253"), key))
    pair.peers = {Role.PRIMARY: primary, Role.SECONDARY: secondary}
    return pair


def test_partner_down_when_safe_updates_and_reads_back():
    sec = FakePeer(S.COMMUNICATIONS_INTERRUPTED, S.NORMAL)
    result = fake_pair(FakePeer(None), sec).partner_down("secondary")
    assert result.done and result.after.secondary.local_state is S.PARTNER_DOWN
    assert sec.updates == [("failover-state", [("local-state", u32(4))])]


@pytest.mark.parametrize("primary,secondary,why", [
    (FakePeer(S.NORMAL), FakePeer(S.NORMAL), "not communications-interrupted"),
    (FakePeer(S.COMMUNICATIONS_INTERRUPTED), FakePeer(S.COMMUNICATIONS_INTERRUPTED),
     "still answers over OMAPI"),
    (FakePeer(S.PARTNER_DOWN), FakePeer(S.COMMUNICATIONS_INTERRUPTED), "split brain"),
    (FakePeer(None), FakePeer(S.COMMUNICATIONS_INTERRUPTED, S.PARTNER_DOWN), "split brain"),
    (FakePeer(S.NORMAL), FakePeer(None), "does not answer"),
])
def test_partner_down_refusals_send_nothing(primary, secondary, why):
    with pytest.raises(PartnerDownRefused, match=why):
        fake_pair(primary, secondary).partner_down("secondary")
    assert primary.updates == [] and secondary.updates == []


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
    result = fake_pair(FakePeer(None), sec).partner_down("secondary", dry_run=True)
    assert result.dry_run and not result.done and "would move" in result.message
    assert sec.updates == []


def test_already_partner_down_is_success_without_an_update():
    sec = FakePeer(S.PARTNER_DOWN, S.COMMUNICATIONS_INTERRUPTED)
    result = fake_pair(FakePeer(None), sec).partner_down("secondary")
    assert not result.done and "already" in result.message and sec.updates == []


def test_every_decision_is_audited(caplog):
    caplog.set_level(logging.INFO, logger="omapifo.audit")
    pair = fake_pair(FakePeer(S.NORMAL), FakePeer(S.NORMAL))
    with pytest.raises(PartnerDownRefused):
        pair.partner_down("secondary", actor="alice")
    record = caplog.records[-1]
    assert record.omapifo_audit["outcome"] == "refused"
    assert record.omapifo_audit["actor"] == "alice"


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
def test_primary_dies_partner_down_on_secondary_then_recovery(healthy_lab, pair):
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
    assert result.done and result.after.secondary.local_state is S.PARTNER_DOWN
    assert pair.state().secondary.local_state is S.PARTNER_DOWN
    assert "partner-down" in lab.log_path(Role.SECONDARY).read_text()

    lab.start(Role.PRIMARY, wait=False)
    lab.wait_normal(timeout=120)
    assert pair.state().health.ok


@pytest.mark.integration
def test_planned_shutdown_of_the_primary(healthy_lab, pair):
    with pytest.raises(OperationRefused):
        pair.shutdown("primary", dry_run=True, force=True)  # force needs a reason
    dry = pair.shutdown("primary", dry_run=True)
    assert dry.dry_run and healthy_lab.running(Role.PRIMARY)
    result = pair.shutdown("primary", wait=20)
    assert result.done
    deadline = time.monotonic() + 20
    while healthy_lab.running(Role.PRIMARY):
        assert time.monotonic() < deadline, "dhcpd did not exit after the control object shutdown"
        time.sleep(0.2)
    assert "I move from normal to shutdown" in healthy_lab.log_path(Role.PRIMARY).read_text()
    assert result.after.secondary.local_state is not S.NORMAL or \
        result.after.secondary.partner_state is not S.NORMAL


def test_on_both_asks_the_two_peers_at_once_and_keeps_their_order():
    """A dead peer's timeout must not delay the live one: the two calls overlap."""
    both_inside = threading.Barrier(2, timeout=5)  # breaks unless both calls run together

    def ask(role: Role) -> str:
        both_inside.wait()
        return str(role)

    assert fake_pair(FakePeer(S.NORMAL), FakePeer(S.NORMAL)).on_both(ask) == \
        ("primary", "secondary")
