"""omapifo._leases: decoding, agreement, validation; lookup and release on the real pair."""
from __future__ import annotations

import ipaddress
from datetime import timezone

import pytest

from omapifo import LeaseState, LeaseView, NotFound, ReleaseRefused, Role
from omapifo import _wire as wire
from omapifo._omapi import parse_client_id, parse_ip, parse_mac

from .conftest import fresh_lease, sent
from .recorded import LEASE_PRIMARY, LEASE_SECONDARY, u32

# -- unit ------------------------------------------------------------------------------------


def test_recorded_leases_decode():
    p, s = wire.lease(LEASE_PRIMARY), wire.lease(LEASE_SECONDARY)
    assert p.ip == ipaddress.IPv4Address("198.18.11.47")
    assert p.state is LeaseState.ACTIVE and str(p.state) == "active"
    assert p.hardware_address == "02:00:00:00:00:01"
    assert p.cltt is None and s.cltt is not None  # 0 means unset
    assert s.client_hostname == "vm" and p.client_hostname is None
    assert p.ends == s.ends and p.ends.tzinfo is timezone.utc


def test_views_agree_despite_fields_that_legitimately_differ():
    view = LeaseView(ipaddress.IPv4Address("198.18.11.47"), wire.lease(LEASE_PRIMARY),
                     wire.lease(LEASE_SECONDARY))
    assert view.agree and view.differences == ()
    assert view.serving is Role.SECONDARY and view.state is LeaseState.ACTIVE


def test_views_that_disagree_on_the_binding_say_how():
    changed = dict(LEASE_SECONDARY, state=u32(7), **{"hardware-address": b"\x02" * 6})
    view = LeaseView(ipaddress.IPv4Address("198.18.11.47"), wire.lease(LEASE_PRIMARY),
                     wire.lease(changed))
    assert not view.agree
    assert any(d.startswith("state: primary active, secondary backup") for d in view.differences)
    assert any(d.startswith("hardware_address") for d in view.differences)
    assert view.state is LeaseState.ACTIVE  # a client may be using it


@pytest.mark.parametrize("number", range(1, 10))
def test_every_binding_state(number):
    assert wire.lease(dict(LEASE_PRIMARY, state=u32(number))).state is LeaseState(number)


@pytest.mark.parametrize("func,text,words", [
    (parse_ip, "198.18.11.300", "not an IPv4 address"),
    (parse_ip, "2001:db8::1", "IPv6"),
    (parse_ip, "", "not an IPv4"),
    (parse_mac, "02:00:00:00:00", "not a MAC"),
    (parse_mac, "zz:00:00:00:00:01", "not a MAC"),
    (parse_client_id, "01:xyz", "not a client identifier"),
])
def test_bad_input_is_a_clear_value_error(func, text, words):
    with pytest.raises(ValueError, match=words):
        func(text)


def test_bad_input_never_reaches_omapi():
    from .fakes import FakePeer, fake_pair
    from omapifo import FailoverState
    primary, secondary = FakePeer(FailoverState.NORMAL), FakePeer(FailoverState.NORMAL)
    pair = fake_pair(primary, secondary)
    calls = []
    primary.open = secondary.open = lambda *a, **k: calls.append(a)  # type: ignore[method-assign]
    for kwargs in ({"ip": "nope"}, {"mac": "nope"}, {"client_id": "??"}, {}):
        with pytest.raises(ValueError):
            pair.lease(**kwargs)
    assert calls == []


# -- integration -------------------------------------------------------------------------------


@pytest.mark.integration
def test_lease_from_a_real_client_is_found_by_ip_and_mac_on_both_peers(healthy_lab, pair):
    ip = healthy_lab.client(2)
    mac = healthy_lab.default_mac(2)
    by_ip = pair.lease(ip)
    assert by_ip.primary and by_ip.secondary, by_ip.errors
    assert by_ip.state is LeaseState.ACTIVE and by_ip.agree, by_ip.differences
    assert by_ip.primary.hardware_address == mac
    by_mac = pair.lease(mac=mac)
    assert str(by_mac.ip) == ip and by_mac.agree
    assert by_mac.serving in (Role.PRIMARY, Role.SECONDARY)


@pytest.mark.integration
def test_release_makes_it_not_active_on_both_and_a_second_release_is_refused(
        healthy_lab, recording_pair, log_mark, audit_log):
    pair = recording_pair
    ip = healthy_lab.client(3, mac="02:00:00:aa:00:03")
    dry = pair.release(ip, actor="test", dry_run=True)
    assert dry.state is LeaseState.ACTIVE and sent(pair) == []
    assert fresh_lease(healthy_lab, ip).state is LeaseState.ACTIVE  # dhcpd, read again
    pair.release(ip, actor="test")
    assert len(sent(pair)) == 1
    after = fresh_lease(healthy_lab, ip)  # both peers read afresh, not release()'s own view
    assert after.primary.state is not LeaseState.ACTIVE
    assert after.secondary.state is not LeaseState.ACTIVE
    assert f"lease {ip} state changed from active to released" in log_mark.both()
    with pytest.raises(ReleaseRefused, match="not active"):
        pair.release(ip)
    assert len(sent(pair)) == 1  # the refusal sent nothing
    assert [str(r.outcome) for r in audit_log.records()] == ["dry-run", "done", "refused"]


@pytest.mark.integration
def test_a_pool_address_is_known_to_both_and_an_unknown_one_not_found(lab, pair):
    low, _ = lab.layout.client_range(4)
    view = pair.lease(low)
    assert view.primary and view.secondary and view.state is not None
    outside = str(lab.layout.server_net(Role.PRIMARY).network_address + 5)
    with pytest.raises(ValueError, match="outside every range of .*dhcpd.conf"):
        pair.lease(outside)  # the configuration says so before any OMAPI traffic
    with pytest.raises(NotFound):
        pair.lease(mac="02:00:00:ff:ff:ff")  # nobody ever asked with this one
