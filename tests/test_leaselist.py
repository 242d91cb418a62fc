"""omapifo._leaselist: lease lists (live, offline, paged) and search across pairs.

Integration tests make real leases with dhclient (lab.client) and check the list against
dhcpd read independently: a lookup over a connection of the test's own, and the server's
dhcpd.leases.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import time

import pytest

from omapifo import (Endpoint, FailoverPair, LeaseState, PeerError, Role, find_leases,
                     leases_from_file)
from omapifo._leaselist import _merge, list_leases

from .test_leasefile import LEASES

MAC_A, MAC_B = "02:00:00:1e:00:0a", "02:00:00:1e:00:0b"


# -- unit: the row of an address from two peers' answers ------------------------------------

def fields(state, mac=b"\x02\0\0\0\0\x01", host=None, starts=100, ends=200, cltt=0):
    return (int(state), mac, host, starts, ends, cltt)


def test_a_row_is_the_serving_peers_view_and_active_wins_a_disagreement():
    ip = ipaddress.IPv4Address("198.18.11.40")
    served_by_secondary = _merge(ip, fields(LeaseState.ACTIVE, host=None),
                                 fields(LeaseState.ACTIVE, host=b"vm\0", cltt=150, ends=300))
    assert served_by_secondary.served_by is Role.SECONDARY
    assert served_by_secondary.client_hostname == "vm"
    assert served_by_secondary.ends.timestamp() == 300  # the serving peer's
    split = _merge(ip, fields(LeaseState.FREE), fields(LeaseState.ACTIVE, cltt=9))
    assert split.state is LeaseState.ACTIVE and split.disagree
    assert (split.primary_state, split.secondary_state) == (LeaseState.FREE, LeaseState.ACTIVE)
    only_one = _merge(ip, None, fields(LeaseState.BACKUP, mac=None))
    assert only_one.state is LeaseState.BACKUP and not only_one.disagree
    assert only_one.hardware_address is None
    assert _merge(ip, None, None) is None  # neither peer has a lease: no row


class NoPeers:
    """A pair whose peers must not be asked (bad filters fail before any traffic)."""

    name = "p"

    def peer(self, role):
        raise AssertionError("OMAPI traffic for a request that was bad")


@pytest.mark.parametrize("kwargs,message", [
    ({"subnet": "198.18.11.0/33"}, "not a network"),
    ({"subnet": "2001:db8::/64"}, "IPv6"),
    ({"state": "bound"}, "not a binding state"),
    ({"hostname": "two words"}, "no blanks"),
    ({"limit": 0}, "at least 1"),
    ({"after": "nope"}, "not an IPv4 address"),
])
def test_bad_filters_say_what_is_wrong_before_any_traffic(kwargs, message):
    with pytest.raises(ValueError, match=message):
        list_leases(NoPeers(), **kwargs)


def test_offline_list_filters_and_takes_the_last_record(tmp_path):
    path = tmp_path / "dhcpd.leases"
    path.write_text(LEASES)
    every = leases_from_file(path)
    assert [str(e.ip) for e in every.leases] == ["198.18.11.40", "198.18.11.41"]
    first = every.leases[0]  # its second record (released, no hostname) wins
    assert first.state is LeaseState.RELEASED and first.client_hostname is None
    assert leases_from_file(path, state="backup").leases[0].ip == \
        ipaddress.IPv4Address("198.18.11.41")
    assert leases_from_file(path, subnet="198.18.12.0/24").leases == ()
    path.write_text(LEASES.replace("lease 198.18.11.40 {\n  binding state released;\n}\n", ""))
    vm = leases_from_file(path, hostname="V*").leases
    assert [(e.client_hostname, e.hardware_address, e.starts.isoformat()) for e in vm] == \
        [("vm", "02:00:00:00:00:01", "2026-11-25T03:24:00+00:00")]


# -- integration ----------------------------------------------------------------------------

def active_rows(pair, subnet):
    return {str(e.ip): e for e in pair.leases(subnet=subnet, state="active").leases}


@pytest.mark.integration
def test_live_list_shows_real_clients_as_dhcpd_has_them(healthy_lab, pair, tmp_path):
    lab = healthy_lab
    a = lab.client(1, mac=MAC_A)
    b = lab.client(3, mac=MAC_B)  # not subnet 2: tests/test_leases.py wants its default MAC
    got = pair.leases(state="active")
    assert got.complete and got.source == "omapi"
    rows = {str(e.ip): e for e in got.leases}
    assert {a, b} <= set(rows)
    assert all(e.state is LeaseState.ACTIVE for e in got.leases)
    with FailoverPair(lab.pair_config()) as own:  # dhcpd read again on connections of our own
        for ip, mac in ((a, MAC_A), (b, MAC_B)):
            view = own.lease(ip)
            row = rows[ip]
            assert row.hardware_address == mac == view.primary.hardware_address
            assert (row.primary_state, row.secondary_state) == \
                (view.primary.state, view.secondary.state)
            assert row.served_by is view.serving and row.served_by is not None
            assert row.ends == view.peer(row.served_by).ends
    # the server's own dhcpd.leases has them too (dhcpd writes it as it commits)
    leases = lab.server_dir(Role.PRIMARY) / "dhcpd.leases"
    deadline = time.monotonic() + 10
    while True:
        offline = {str(e.ip): e for e in leases_from_file(leases, state="active").leases}
        if {a, b} <= set(offline) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert offline[a].hardware_address == MAC_A and offline[b].hardware_address == MAC_B


@pytest.mark.integration
def test_subnet_filter_and_pages_cover_the_same_rows_as_one_list(lab, pair):
    net = lab.layout.client_net(3)
    whole = pair.leases(subnet=str(net))
    assert whole.leases and all(e.ip in net for e in whole.leases)
    low, high = (ipaddress.IPv4Address(x) for x in lab.layout.client_range(3))
    assert len(whole.leases) == int(high) - int(low) + 1  # every pool address has a lease
    pages, after = [], None
    for _ in range(100):  # bounded: 7 rows a page
        page = pair.leases(subnet=str(net), after=after, limit=7)
        assert len(page.leases) <= 7
        pages += page.leases
        after = page.next_after
        if after is None:
            break
    assert [e.ip for e in pages] == [e.ip for e in whole.leases]
    assert [e.state for e in pages] == [e.state for e in whole.leases]


@pytest.mark.integration
def test_find_by_mac_ip_and_state_across_pairs(healthy_lab, pair):
    lab = healthy_lab
    mac = "02:00:00:1e:00:0c"  # this test's own: one lease, dhcpd's lookup by MAC answers
    ip = lab.client(4, mac=mac)
    with FailoverPair(lab.pair_config()) as other:
        # the same servers configured twice: each pair is asked and answers for itself
        by_mac = find_leases([pair, other], mac.upper())
        assert by_mac.kind == "mac" and not by_mac.errors
        assert [(m.pair, str(m.lease.ip)) for m in by_mac.matches] == \
            [(pair.name, ip), (other.name, ip)]
        view = other.lease(ip)
        m = by_mac.matches[0].lease
        assert m.state is view.state is LeaseState.ACTIVE and m.served_by is view.serving
        by_ip = find_leases([pair], ip)
        assert by_ip.kind == "ip" and by_ip.matches[0].lease.hardware_address == mac
    outside = str(lab.layout.server_net(Role.PRIMARY).network_address + 5)
    assert find_leases([pair], outside).matches == ()  # outside every range: not an error
    assert find_leases([pair], "02:00:00:ff:fe:fd").matches == ()


@pytest.mark.integration
def test_a_mac_with_leases_in_two_subnets_is_found_in_both(healthy_lab, pair):
    """dhcpd refuses the lookup by hardware address then; the search scans instead."""
    lab = healthy_lab
    mac = "02:00:00:1e:00:0d"
    ips = {lab.client(1, mac=mac), lab.client(4, mac=mac)}
    with pytest.raises(PeerError, match="object lookup failed"):
        pair.lease(mac=mac)  # what dhcpd answers (both peers), read directly
    found = find_leases([pair], mac)
    assert not found.errors
    assert {str(m.lease.ip) for m in found.matches} >= ips
    assert all(m.lease.hardware_address == mac for m in found.matches)
    with FailoverPair(lab.pair_config()) as own:  # each address read again on its own
        for m in found.matches:
            assert own.lease(str(m.lease.ip)).primary.hardware_address == mac


@pytest.mark.integration
def test_find_by_hostname_scans_and_one_dead_pair_is_named(lab, pair, tmp_path):
    rows = pair.leases(state="active").leases
    named = [e for e in rows if e.client_hostname]
    if not named:
        ip = lab.client(1)
        named = [e for e in pair.leases(state="active").leases if e.client_hostname]
        assert named, f"dhclient sent no hostname for {ip}"
    host = named[0].client_hostname
    dead_cfg = dataclasses.replace(lab.pair_config(), name="dead", timeout=0.5,
                                   primary=Endpoint.parse("127.0.0.1:9"),
                                   secondary=Endpoint.parse("127.0.0.1:10"))
    with FailoverPair(dead_cfg) as dead:
        found = find_leases([pair, dead], host.upper())
    assert found.kind == "hostname"
    assert {str(m.lease.ip) for m in found.matches} == \
        {str(e.ip) for e in pair.leases(hostname=host).leases}
    assert {m.pair for m in found.matches} == {pair.name}
    assert "dead" in found.errors
