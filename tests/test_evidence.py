"""Evidence from the right source (issue 21): a TCP reset is a stopped dhcpd, an ICMP
error is a filter, and the evidence is keyed by the error's type.

Unit tests decode the IP_RECVERR messages recorded in the lab and check the table of
omapifo._evidence; the integration tests put nftables rules (``lab.filter``) on the real
pair's hosts and router, partner-down included, and check the real dhcpd afterwards.
"""
from __future__ import annotations

import socket

import pytest

from omapifo import (ConnectionRefused, ConnectionRejected, Endpoint, Evidence, FailoverPair,
                     FailoverState as S, OmapiKey, OmapiPeer, PartnerDownRefused, PeerError,
                     PeerTimeout, PeerUnreachable, PeerView, Role, _guards as guards)
from omapifo import _errors as omapifo_errors
from omapifo._evidence import BY_TYPE
from omapifo._omapi import IcmpError, decode_extended_error

from .conftest import fresh_state
from .test_guards import partitioned, unpartition  # noqa: F401 - a fixture, used by name
from .test_omapi import SECRET

CI = S.COMMUNICATIONS_INTERRUPTED

# recvmsg(MSG_ERRQUEUE) control data after a refused connect from the root namespace,
# recorded in the lab (x86-64, kernel 6.18): struct sock_extended_err + the offender
PORT_UNREACHABLE_FROM_HOST = bytes.fromhex(
    "6f00000002030300000000000000000002000000c612cafd0000000000000000")  # 198.18.202.253
ADMIN_PROHIBITED_FROM_ROUTER = bytes.fromhex(
    "7100000002030d00000000000000000002000000c612c0020000000000000000")  # 198.18.192.2
HOST_UNREACHABLE_FROM_ROUTER = bytes.fromhex(  # the primary's link down (ARP failed)
    "7100000002030100000000000000000002000000c612c0020000000000000000")


def test_the_error_queue_messages_recorded_in_the_lab_decode():
    assert decode_extended_error(PORT_UNREACHABLE_FROM_HOST) == IcmpError(
        111, 3, 3, "198.18.202.253")
    rejected = decode_extended_error(ADMIN_PROHIBITED_FROM_ROUTER)
    assert rejected == IcmpError(113, 3, 13, "198.18.192.2")
    assert str(rejected) == "ICMP admin-prohibited (type 3, code 13) from 198.18.192.2"
    unreachable = decode_extended_error(HOST_UNREACHABLE_FROM_ROUTER)
    assert unreachable is not None and unreachable.name == "host-unreachable"


def test_only_the_codes_a_filter_sends_count_as_a_filter():
    assert [code for code in range(16) if IcmpError(0, 3, code, None).from_a_filter] == [
        2, 3, 9, 10, 13, 14, 15]
    assert not IcmpError(0, 11, 0, None).from_a_filter  # time exceeded: a routing loop


def test_an_error_that_did_not_come_from_icmp_or_is_cut_short_is_no_icmp_error():
    local = bytearray(PORT_UNREACHABLE_FROM_HOST)
    local[4] = 1  # SO_EE_ORIGIN_LOCAL
    assert decode_extended_error(bytes(local)) is None
    with pytest.raises(ValueError, match="too short"):
        decode_extended_error(PORT_UNREACHABLE_FROM_HOST[:10])
    no_offender = decode_extended_error(PORT_UNREACHABLE_FROM_HOST[:16])
    assert no_offender is not None and no_offender.offender is None


def test_every_peer_error_of_the_library_has_its_own_line_in_the_evidence_table():
    peer_errors = {c for c in vars(omapifo_errors).values()
                   if isinstance(c, type) and issubclass(c, PeerError)}
    assert peer_errors == set(BY_TYPE), "a new PeerError needs a line in omapifo._evidence"


def test_evidence_is_keyed_by_the_type_and_an_unknown_error_is_never_stopped():
    class NewRefusal(ConnectionRefused):
        """Someone's new subclass: not (yet) a proof of a reset."""

    class ConnectionRefusedLookalike(PeerError):
        pass

    ConnectionRefusedLookalike.__name__ = "ConnectionRefused"  # the same name, not the type
    assert Evidence.of(ConnectionRefused("x")) is Evidence.DHCPD_STOPPED
    assert Evidence.of(ConnectionRejected("x")) is Evidence.FILTERED
    assert Evidence.of(NewRefusal) is Evidence.SILENT
    assert Evidence.of(ConnectionRefusedLookalike("x")) is Evidence.SILENT
    assert Evidence.of(type("NewPeerError", (PeerError,), {})) is Evidence.SILENT
    assert Evidence.of(type("Wrapped", (omapifo_errors.ProtocolError,), {})) is \
        Evidence.ANSWERS_BADLY  # stricter than silent: force does not override it
    assert Evidence.of(ValueError("x")) is Evidence.SILENT
    assert Evidence.of(None) is Evidence.READABLE
    # the names JSON carries (a PeerView's error_kind) resolve in omapifo._errors only
    assert [Evidence.of(name) for name in ("ConnectionRefused", "ConnectionRejected",
                                           "PeerTimeout", "NoSuchError", "Evidence")] == [
        Evidence.DHCPD_STOPPED, Evidence.FILTERED, Evidence.SILENT, Evidence.SILENT,
        Evidence.SILENT]


def test_a_peer_view_keeps_the_raised_type_and_one_from_json_resolves_the_name():
    class NewRefusal(ConnectionRefused):
        pass

    ep = Endpoint("198.18.10.253")
    view = PeerView.failed(Role.PRIMARY, ep, NewRefusal("refused", peer="primary"))
    assert view.error_kind == "NewRefusal" and view.evidence is Evidence.SILENT
    assert PeerView(Role.PRIMARY, ep, None, "x", "ConnectionRejected").evidence is \
        Evidence.FILTERED
    assert PeerView(Role.PRIMARY, ep, None, "x", "NewRefusal").evidence is Evidence.SILENT
    assert PeerView(Role.PRIMARY, ep, None, "x", None).evidence is Evidence.SILENT


def test_a_reset_from_a_closed_port_on_loopback_is_a_refusal():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(ConnectionRefused, match="TCP reset") as raised:
        OmapiPeer("127.0.0.1", port, OmapiKey("k", SECRET), timeout=0.5).open("lease", [])
    assert Evidence.of(raised.value) is Evidence.DHCPD_STOPPED


# -- integration: nftables on the real pair's hosts and router -------------------------------

def _server(lab, role: Role) -> str:
    return lab.layout.server_addr(role)


# (where the rule goes, the rule, the ICMP error omapifo names, whose address it is)
REJECTIONS = [
    ("primary", "tcp dport 7911 reject", "port-unreachable (type 3, code 3)", "host"),
    ("primary", "tcp dport 7911 reject with icmp type admin-prohibited",
     "admin-prohibited (type 3, code 13)", "host"),
    ("primary", "tcp dport 7911 reject with icmp type host-prohibited",
     "host-prohibited (type 3, code 10)", "host"),
    ("router", "ip daddr {primary} tcp dport 7911 reject", "port-unreachable (type 3, code 3)",
     "router"),
    ("router", "ip daddr {primary} tcp dport 7911 reject with icmp type admin-prohibited",
     "admin-prohibited (type 3, code 13)", "router"),
]


@pytest.mark.integration
@pytest.mark.parametrize("where,rule,icmp,offender", REJECTIONS,
                         ids=[f"{w}: {r.split('reject')[1] or ' default'}" for w, r, *_ in
                              REJECTIONS])
def test_an_icmp_rejection_reads_as_filtered_naming_the_offender(lab, where, rule, icmp,
                                                                 offender):
    primary = _server(lab, Role.PRIMARY)
    who = primary if offender == "host" else lab.layout.rtr_mgmt
    try:
        lab.filter(where, rule.format(primary=primary))
        st = fresh_state(lab)
        assert st.primary.evidence is Evidence.FILTERED, st.primary.error
        assert st.primary.error_kind == "ConnectionRejected"
        assert f"a filter at {who}" in st.primary.error and icmp in st.primary.error
        assert st.secondary.local_state is S.NORMAL  # only OMAPI to the primary is filtered
        assert lab.running(Role.PRIMARY)
    finally:
        lab.unfilter(where)
    assert fresh_state(lab).primary.local_state is S.NORMAL  # it was running all along


@pytest.mark.integration
def test_a_dropping_filter_is_silent_and_a_resetting_one_is_a_stopped_dhcpd(lab):
    """`drop` gives no answer (silent, needs force). `reject with tcp reset` sends what a
    host without a listener sends: omapifo cannot tell it from a stopped dhcpd (docs/
    runbook.md says so; OMAPI must be let through from the ops host, or dropped)."""
    try:
        lab.filter("primary", "tcp dport 7911 drop")
        st = fresh_state(lab)
        assert st.primary.error_kind == "PeerTimeout" and st.primary.evidence is Evidence.SILENT
        lab.unfilter("primary")
        lab.filter("primary", "tcp dport 7911 reject with tcp reset")
        st = fresh_state(lab)
        assert st.primary.error_kind == "ConnectionRefused", st.primary.error
        assert st.primary.evidence is Evidence.DHCPD_STOPPED and lab.running(Role.PRIMARY)
    finally:
        lab.unfilter("primary")
    assert fresh_state(lab).primary.local_state is S.NORMAL


@pytest.mark.integration
@pytest.mark.usefixtures("partitioned")
def test_a_rejecting_firewall_needs_force_also_after_a_first_timeout(lab, pair, audit_log):
    """The issue's case: the two peers cut off from each other, `tcp dport 7911 reject` on
    the primary's host, its dhcpd running. The connection opened before the rule times out
    (ICMP errors on an open connection are soft); every later connect gets the ICMP
    error. No attempt goes through without force; forced with a reason it does, and all
    are in the audit trail."""
    primary = _server(lab, Role.PRIMARY)
    assert pair.state().primary.local_state is CI  # the pair's connection is open now
    try:
        lab.filter("primary", "tcp dport 7911 reject")
        with pytest.raises(PartnerDownRefused, match="cannot be reached from here") as first:
            pair.partner_down("secondary", actor="alice")
        assert "no answer within" in str(first.value)  # the open connection timed out
        for _ in range(2):  # the next attempts connect again: the filter answers
            with pytest.raises(PartnerDownRefused) as refused:
                pair.partner_down("secondary", actor="alice")
            why = str(refused.value)
            assert f"a filter at {primary} (the peer's own address)" in why, why
            assert "port-unreachable" in why and "not a stopped dhcpd" in why
        st = fresh_state(lab)
        assert st.secondary.local_state is CI and st.primary.evidence is Evidence.FILTERED
        assert lab.running(Role.PRIMARY)  # alive all along behind its firewall
        result = pair.partner_down("secondary", force=True, actor="alice",
                                   reason="primary's console: dhcpd hung, not serving")
        assert result.done and result.evidence is Evidence.FILTERED
        assert fresh_state(lab).secondary.local_state is S.PARTNER_DOWN
        records = audit_log.records()
        assert [(r.actor, str(r.outcome), r.force) for r in records] == [
            ("alice", "refused", False)] * 3 + [("alice", "done", True)]
        assert records[-1].reason == "primary's console: dhcpd hung, not serving"
        lab.unfilter("primary")
        assert fresh_state(lab).primary.local_state is CI  # untouched: we never changed it
    finally:
        unpartition(lab)
    st = fresh_state(lab)
    assert (st.primary.local_state, st.secondary.local_state) == (S.NORMAL, S.NORMAL)


@pytest.mark.integration
def test_a_rejection_is_not_a_stopped_dhcpd_for_shutdown_or_maintenance_either(lab):
    """With the primary behind a filter, shutting the secondary down needs force, and
    planned maintenance's wait for a stopped primary is not over: both guards see
    `filtered` in the real read, not a stopped dhcpd."""
    try:
        lab.filter("primary", "tcp dport 7911 reject")
        with FailoverPair(lab.pair_config()) as p:
            st = p.state()
        assert st.primary.evidence is Evidence.FILTERED
        decision = guards.shutdown(Role.SECONDARY, st, force=False)
        assert not decision.proceed and "behind a filter" in decision.why
        waited = guards.peer_stopped(Role.PRIMARY, st)
        assert not waited.proceed and "filtered" in waited.why
    finally:
        lab.unfilter("primary")
    assert fresh_state(lab).secondary.local_state is S.NORMAL


def test_rejected_and_refused_are_peer_unreachable():
    # both are 502 over HTTP (api/problems.py maps PeerUnreachable) and no connection made
    assert issubclass(ConnectionRejected, PeerUnreachable)
    assert not issubclass(ConnectionRejected, (ConnectionRefused, PeerTimeout))
    assert ConnectionRejected in omapifo_errors.NOT_TAKEN
