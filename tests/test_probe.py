"""DHCP probes (omapifo/_probe.py) against the real pair: each server answers the probe
aimed at it, no probe leaves an address bound, and a partner that serves DHCP behind a
firewall on its OMAPI port is never put down (a stopped server:
tests/api/test_probe_monitoring.py).

The lab's probe subnet (LabSettings.probe_subnet) is served by both servers, and its
relay address sits on this host's link (docs/probes.md)."""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import replace

import pytest

from omapifo import (ConfigError, Endpoint, FailoverPair, FailoverState as S, JsonLinesAudit,
                     LeaseState, OmapiKey, Outcome, PairConfig, PartnerDownRefused,
                     PROBE_MAC_PREFIX, Role, leases_from_file, parse_dhcpd_conf, probe_mac)
from omapifo import _probe
from omapifo.lab import Lab

from .conftest import LogMark, fresh_lease, fresh_state, restore


@pytest.fixture
def lab(probe_lab: Lab) -> Iterator[Lab]:
    """The probe lab, both servers normal before and after the test."""
    restore(probe_lab)
    yield probe_lab
    probe_lab.unfilter()
    probe_lab.mend()
    restore(probe_lab)


@pytest.mark.integration
def test_each_server_answers_the_probe_aimed_at_it_and_nothing_is_left_bound(lab):
    mark = LogMark(lab)
    with FailoverPair(lab.pair_config()) as pair:
        found = pair.probe()
    net = lab.layout.probe_net
    assert found.serving == [Role.PRIMARY, Role.SECONDARY], found
    assert found.secs == 4  # the lab's load balance max seconds (3), plus one
    assert len({r.xid for r in found.results}) == 2
    for r in found.results:
        assert r.server_id == lab.layout.server_addr(r.role)
        assert ipaddress.IPv4Address(r.offered) in net and r.pool and r.latency < found.timeout
        assert r.mac == probe_mac(lab.pair_config().name, r.role)
        assert r.mac.startswith(PROBE_MAC_PREFIX)
    for r in found.results:
        # a fresh read of both peers: an offer is not a lease, on either server
        view = fresh_lease(lab, r.offered)
        for role in Role:
            held = view.peer(role)
            assert held is not None and held.state is not LeaseState.ACTIVE, (role, held)
        log = mark.since(r.role)
        assert f"DHCPOFFER on {r.offered} to {r.mac} via {found.giaddr}" in log, log
        assert "DHCPREQUEST" not in log and "DHCPACK" not in log
    for role in Role:
        # dhcpd may write the offered lease to its file later (a free lease keeps its last
        # client's hardware address), never as bound (measured: binding state free/backup)
        written = leases_from_file(lab.leases_path(role)).leases
        probes = [e for e in written if (e.hardware_address or "").startswith(PROBE_MAC_PREFIX)]
        assert all(e.state in (LeaseState.FREE, LeaseState.BACKUP) for e in probes), probes


@pytest.mark.integration
def test_a_partner_serving_dhcp_behind_an_omapi_firewall_is_never_put_down(lab, tmp_path):
    """Cut off from each other, and OMAPI to the primary rejected by nftables while DHCP
    still reaches it: OMAPI alone says "filtered" (force would go through); the probe
    finds the primary serving, so even a forced partner-down of the secondary is refused,
    and the secondary is still communications-interrupted afterwards."""
    lab.partition()
    lab.filter(Role.PRIMARY, "tcp dport 7911 reject")
    lab.wait_states(None, S.COMMUNICATIONS_INTERRUPTED, timeout=60)
    audit = JsonLinesAudit(tmp_path / "audit.log")
    config = lab.pair_config()
    # without a probe address the same forced change would go ahead (a dry run shows it)
    with FailoverPair(replace(config, probe_giaddr=None), audit=audit) as blind:
        dry = blind.partner_down("secondary", force=True, reason="test", dry_run=True)
    assert "would move the secondary" in dry.message and "behind a filter" in dry.message
    with FailoverPair(config, audit=audit) as pair:
        with pytest.raises(PartnerDownRefused) as refused:
            pair.partner_down("secondary", force=True, reason="the primary looks dead")
    why = str(refused.value)
    subnet = str(lab.layout.probe_net.network_address).rsplit(".", 1)[0]
    for words in ("the primary answered a DHCP probe", f"offered {subnet}.",
                  "Force does not override this", "cannot be read (filtered"):
        assert words in why, why
    after = fresh_state(lab)
    assert after.secondary.local_state is S.COMMUNICATIONS_INTERRUPTED
    assert after.primary.local_state is None  # still filtered: nothing was let through
    last = audit.records()[-1]
    assert (last.action, last.outcome, last.force) == ("partner-down", Outcome.REFUSED, True)
    assert "answered a DHCP probe" in (last.detail or "")


# -- without the lab: what a round accepts -------------------------------------------------

CONFIG = PairConfig("p", Endpoint("198.18.10.253"), Endpoint("198.18.60.253"),
                    OmapiKey("k", "c2VjcmV0"), probe_giaddr="198.18.9.1")


@pytest.mark.parametrize("kw,words", [
    ({"macs": {Role.PRIMARY: "02:00:00:00:00:01"}}, "must be within 02:6f:6d:70:xx:xx"),
    ({"macs": {Role.PRIMARY: "02:6f:6d:70:zz:01"}}, "is not a hardware address"),
    ({"secs": 65536}, "holds 0 to 65535"),
    ({"secs": -1}, "holds 0 to 65535"),
    ({"timeout": 0}, "use more than 0"),
    ({"roles": []}, "at least one server"),
])
def test_a_round_refuses_what_would_not_be_a_probe_before_sending(kw, words):
    """A probe never speaks for a real client (whose lease an OFFER would touch): its
    hardware address stays in the probes' range. Nothing is bound or sent: ValueError."""
    roles = kw.pop("roles", list(Role))
    with pytest.raises(ValueError, match=words):
        _probe.probe(CONFIG, roles, **kw)


def test_a_pair_without_a_probe_address_says_so_before_any_omapi(tmp_path):
    class NoOmapi:
        def __getattr__(self, name):
            raise AssertionError(f"OMAPI used: {name}")
    pair = FailoverPair(replace(CONFIG, probe_giaddr=None),
                        peers={r: NoOmapi() for r in Role})  # type: ignore[misc]
    with pytest.raises(ConfigError, match="has no probe_giaddr"):
        pair.probe()


def test_each_server_of_each_pair_has_its_own_stable_probe_mac():
    macs = {probe_mac(pair, role) for pair in ("a", "b") for role in Role}
    assert len(macs) == 4 and probe_mac("a", Role.PRIMARY) == probe_mac("a", Role.PRIMARY)
    assert all(re.fullmatch(r"02:6f:6d:70:[0-9a-f]{2}:[0-9a-f]{2}", m) for m in macs)


def test_a_dhcpd_conf_that_cannot_be_read_names_no_pool_and_stops_no_probe(tmp_path):
    """The pool is a name for people: a partner-down's probe must not fail on it."""
    bad = tmp_path / "dhcpd.conf"
    bad.write_text("subnet 198.18.9.0 netmask {\n")
    assert _probe.readable_conf(lambda: parse_dhcpd_conf(bad)) is None
    assert _probe.readable_conf(lambda: parse_dhcpd_conf(tmp_path / "missing")) is None
    good = tmp_path / "good.conf"
    good.write_text("subnet 198.18.9.0 netmask 255.255.255.0 {\n  pool {\n"
                    "    range 198.18.9.32 198.18.9.63;\n  }\n}\n")
    conf = _probe.readable_conf(lambda: parse_dhcpd_conf(good))
    assert conf is not None and _probe._pool_of("198.18.9.40", conf) == \
        "198.18.9.0/24 from 198.18.9.32"
