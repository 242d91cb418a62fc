"""One rate budget per dhcpd for every scan (issue 21): concurrent scans of one peer share
its rate, measured from the dhcpd's side (an nftables counter in its namespace,
tests/omapicount.py), never from omapifo's own counters."""
from __future__ import annotations

import ipaddress
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from omapifo import FailoverPair, Role, find_leases
from omapifo._budget import RateBudget, peer_budget
from omapifo._pools import pair_pools
from omapifo._scan import lease_states

from .omapicount import OmapiCounter, lookup_size, lookups_per_second


def test_threads_drawing_from_one_budget_get_its_rate_in_total():
    budget = RateBudget("test")
    rate, burst, taken = 500.0, 8, [0, 0, 0, 0]
    start = time.monotonic()

    def draw(i: int) -> None:
        while time.monotonic() - start < 1.0:  # bounded: one second
            wait = budget.take(rate, burst)
            if wait:
                time.sleep(min(wait, 0.01))
            else:
                taken[i] += 1

    threads = [threading.Thread(target=draw, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    elapsed = time.monotonic() - start
    # a token bucket never gives more than rate x time + burst (+1 ms of clock granularity)
    assert sum(taken) <= rate * (elapsed + 0.002) + burst, (taken, elapsed)
    assert all(taken), taken  # every thread got a share


def test_a_budget_belongs_to_one_address_and_port_and_says_how_long_to_wait():
    assert peer_budget("198.18.0.9", 7911) is peer_budget("198.18.0.9", 7911)
    assert peer_budget("198.18.0.9", 7911) is not peer_budget("198.18.0.9", 7912)
    slow = RateBudget("slow")
    assert [slow.take(0.5, 2) for _ in range(2)] == [0.0, 0.0]  # the burst
    assert 1.9 <= slow.take(0.5, 2) <= 2.0  # then one every two seconds
    with pytest.raises(ValueError, match="positive rate"):
        slow.take(0, 1)


# -- against the lab ---------------------------------------------------------------------


def _addresses(pair: FailoverPair) -> list[ipaddress.IPv4Address]:
    conf = pair.dhcpd_conf()
    return [ipaddress.IPv4Address(n) for pool in pair_pools(conf, pair.config.failover_peer)
            for r in pool.ranges for n in range(int(r.first), int(r.last) + 1)]


@pytest.mark.integration
def test_the_counter_sees_each_lookup_of_a_scan_once(lab):
    """The measuring instrument: a scan of N addresses reads as N lookups (plus the few
    messages of opening the connection) on the dhcpd's own counter."""
    with FailoverPair(lab.pair_config()) as pair:
        ips = _addresses(pair)
        with OmapiCounter(lab, Role.PRIMARY) as counter:
            before = counter.read()
            lease_states(pair.peer(Role.PRIMARY), ips)
            after = counter.read()
    seen = (after.payload - before.payload) / lookup_size()
    assert len(ips) <= seen <= len(ips) + 10, (len(ips), seen)


@pytest.mark.integration
def test_concurrent_scans_of_one_peer_share_its_rate(lab):
    """Three scans of the same dhcpd at once, each asked to keep to ``rate``: the dhcpd
    sees ``rate`` in total, not three times it. Before the budget, each scan capped only
    itself."""
    rate = 60.0  # 3 x 128 addresses: about 6 s in all, 2 s each were they not shared
    with FailoverPair(lab.pair_config()) as pair:
        ips = _addresses(pair)
        peer = pair.peer(Role.SECONDARY)
        with OmapiCounter(lab, Role.SECONDARY) as counter, ThreadPoolExecutor(3) as ex:
            scans = [ex.submit(lease_states, peer, ips, rate=rate) for _ in range(3)]
            time.sleep(0.5)  # connected and past the first burst
            before = counter.read()
            time.sleep(2.0)  # the window measured: every scan is under way throughout
            after = counter.read()
            for scan in scans:
                assert len(scan.result(timeout=60)) == len(ips)
    seen = lookups_per_second(before, after, lookup_size())
    print(f"3 scans at {rate:.0f}/s: the dhcpd saw {seen:.0f} lookups/s, "
          f"dhcpd CPU {100 * (after.cpu - before.cpu) / (after.at - before.at):.0f} %")
    assert 3 * len(ips) / rate > 2 * 2.5  # shared, the scans outlast the window twice over
    assert seen <= rate * 1.05 + 5, seen
    assert seen >= rate * 0.5, seen  # they did run (else the bound proves nothing)


@pytest.mark.integration
def test_a_search_stops_at_its_limit_of_matches_and_says_so(large_lab):
    """Two real clients with the same hostname: a search with a limit of one answers one
    match, ``truncated``, having walked only the first chunk of the addresses (measured
    on the dhcpd) instead of the /18; with room for both, both and not truncated."""
    lab = large_lab
    for mac in ("02:00:00:21:00:03", "02:00:00:21:00:04"):  # a first lease lasts 15 s
        lab.client(1, mac=mac)
    with FailoverPair(lab.pair_config()) as pair:
        every = _addresses(pair)
        host = next(e.client_hostname for e in pair.leases(subnet=str(
            lab.layout.client_net(1)), state="active").leases if e.client_hostname)
        with OmapiCounter(lab, Role.PRIMARY) as counter:
            before = counter.read()
            one = find_leases([pair], host, limit=1)
            after = counter.read()
        both = find_leases([pair], host, limit=1000)
    walked = (after.payload - before.payload) / lookup_size()
    print(f"limit 1: {len(one.matches)} match, truncated {one.truncated}, {walked:.0f} of "
          f"{len(every)} addresses walked; limit 1000: {len(both.matches)} matches")
    assert len(one.matches) == 1 and one.truncated
    assert walked < len(every) / 10, walked
    assert len(both.matches) >= 2 and not both.truncated
