"""Readers cannot starve operators nor flood a dhcpd (issue 21): lease lists and searches
through the real REST service (waitress, 8 threads) draw from each peer's one budget,
are bounded per pair and in the whole service (503 + Retry-After beyond), and identical
ones under way share one scan. What the dhcpd sees is measured on its own side (an
nftables counter in its namespace, tests/omapicount.py)."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from omapifo import Role, load_config
from omapifo.api.flights import Busy, ScanSeats
from omapifo.api.problems import from_busy
from omapifo.clients import servecli
from omapifo._pools import pair_pools

from ..omapicount import OmapiCounter, lookup_size, lookups_per_second
from .conftest import OPERATOR, READER, auth, service_config, wait_for

PAIR = "classroom-1-6"


def _config(lab: Any, tmp_path: Path, rate: float) -> Any:
    path = service_config(lab.config_path, tmp_path, tmp_path / "omapifo.sqlite3")
    path.write_text(path.read_text().replace("[service]\n",
                                             f"[service]\npool_scan_rate = {rate}\n", 1))
    return load_config(path)


def _get(url: str, out: list[tuple[str, int | str, dict[str, str], float]], what: str,
         timeout: float) -> None:
    t = time.monotonic()
    try:
        r = requests.get(url, headers=auth(READER), timeout=timeout)
        out.append((what, r.status_code, dict(r.headers), time.monotonic() - t))
    except requests.RequestException as exc:  # the assertions say what it means
        out.append((what, type(exc).__name__, {}, time.monotonic() - t))


@pytest.mark.integration
def test_sixteen_reader_searches_of_a_large_pool_leave_an_operator_room_and_keep_the_rate(
        large_lab, tmp_path):
    """16 concurrent searches by a reader token of a pair with a /18 pool (each walks
    about 16,800 addresses on both peers): an operator's dry-run partner-down answers at
    once (measured, reported), every search answers 200 or 503 with Retry-After, and
    each dhcpd sees no more than pool_scan_rate lookups a second, the poller's own pool
    scan included. Before: every search walked the pool at the full rate, held a worker
    thread throughout, and the partner-down queued behind them."""
    lab, rate = large_lab, 2000.0  # the default pool_scan_rate
    config = _config(lab, tmp_path, rate)
    url, run, stop, service = servecli.start_service(config, "127.0.0.1:0")  # 8 threads
    thread = servecli.run_in_thread(run)
    answers: list[tuple[str, int | str, dict[str, str], float]] = []
    operator: list[tuple[int | str, float]] = []
    rates: dict[Role, float] = {}
    cpu: dict[Role, float] = {}
    # 16 searches: copies of a few patterns by both ways in (the search across pairs and
    # the pair's list); none matches, so each would walk every address. Unbounded, the
    # copies alone would hold 14 of the 8 threads. Started in this order, two different
    # scans and the poller's run at once.
    a, b = "/api/v1/leases?q=nomatch-a*", f"/api/v1/pairs/{PAIR}/leases?hostname=nomatch-b*"
    paths = ([a, b, "/api/v1/leases?q=nomatch-c*",
              f"/api/v1/pairs/{PAIR}/leases?hostname=nomatch-d*"] + [a] * 8 + [b] * 4)
    assert len(paths) == 16
    try:
        assert wait_for(lambda: requests.get(f"{url}/healthz", timeout=5).json()["polls"], 10)
        with OmapiCounter(lab, Role.PRIMARY) as pc, OmapiCounter(lab, Role.SECONDARY) as sc:
            readers = [threading.Thread(target=_get, args=(url + p, answers, p, 180))
                       for p in paths]
            for r in readers:
                r.start()
                time.sleep(0.01)  # in this order
            time.sleep(1.5)  # the searches hold what they can get
            t = time.monotonic()
            try:
                r = requests.post(f"{url}/api/v1/pairs/{PAIR}/peers/secondary/partner-down"
                                  "?dry_run=true", json={"confirm": PAIR},
                                  headers=auth(OPERATOR), timeout=15)
                operator.append((r.status_code, time.monotonic() - t))
            except requests.RequestException as exc:
                operator.append((type(exc).__name__, time.monotonic() - t))
            before = {Role.PRIMARY: pc.read(), Role.SECONDARY: sc.read()}
            time.sleep(8.0)  # the window measured: scans are under way throughout
            after = {Role.PRIMARY: pc.read(), Role.SECONDARY: sc.read()}
            for role in Role:
                rates[role] = lookups_per_second(before[role], after[role], lookup_size())
                cpu[role] = (after[role].cpu - before[role].cpu) / (after[role].at
                                                                   - before[role].at)
            for r in readers:
                r.join(180)
        scans_made = service.poller.request_scans
    finally:
        stop()
        thread.join(10)
    statuses = sorted(str(a[1]) for a in answers)
    print(f"operator's dry-run partner-down: {operator}; searches: {statuses}; "
          f"request scans made: {scans_made}; lookups/s seen by each dhcpd: "
          f"{ {str(k): round(v) for k, v in rates.items()} } (cap {rate:.0f}); dhcpd CPU: "
          f"{ {str(k): f'{100 * v:.0f} %' for k, v in cpu.items()} }")
    assert operator and operator[0][0] in (200, 409), operator  # answered (refused: normal)
    assert len(answers) == 16
    for what, status, headers, _ in answers:
        assert status in (200, 503), (what, status)
        if status == 503:
            assert headers["Content-Type"] == "application/problem+json"
            assert int(headers["Retry-After"]) >= 1
    assert "200" in statuses and "503" in statuses, statuses  # both bounds were reached
    for role in Role:
        assert rates[role] <= rate * 1.05 + 20, (role, rates)  # polls add a few requests
        assert rates[role] >= rate * 0.5, (role, rates)  # the scans did run meanwhile


@pytest.mark.integration
def test_identical_searches_under_way_share_one_scan(lab, tmp_path):
    """Four identical searches at once (as many as may wait for scans): one scan, four
    answers, and the dhcpd saw one walk of the pool, not four."""
    config = _config(lab, tmp_path, 60.0)  # 128 addresses: a scan lasts about 2 s
    url, run, stop, service = servecli.start_service(config, "127.0.0.1:0")
    thread = servecli.run_in_thread(run)
    answers: list[tuple[str, int | str, dict[str, str], float]] = []
    fp = service.pairs[PAIR]
    addresses = sum(p.size for p in pair_pools(fp.dhcpd_conf(), fp.config.failover_peer))
    try:
        assert wait_for(lambda: service.poller.last_pools(PAIR), 15)  # its scan is over
        with OmapiCounter(lab, Role.PRIMARY) as counter:
            before = counter.read()
            readers = [threading.Thread(target=_get, args=(
                f"{url}/api/v1/leases?q=nomatch-shared*", answers, "q", 60)) for _ in range(4)]
            for r in readers:
                r.start()
            for r in readers:
                r.join(60)
            after = counter.read()
        made = service.poller.request_scans
    finally:
        stop()
        thread.join(10)
    walked = (after.payload - before.payload) / lookup_size()
    print(f"4 identical searches: {[a[1] for a in answers]}, {made} scan(s), the primary "
          f"saw {walked:.0f} lookups for {addresses} addresses")
    assert [a[1] for a in answers] == [200] * 4, answers
    assert made == 1
    assert walked < 1.5 * addresses, (walked, addresses)


def test_scan_seats_bound_each_pair_and_the_whole_service():
    seats = ScanSeats(lambda pair: 10.0, per_pair=2, total=3)
    with seats.scanning(["p"]), seats.scanning(["p"]):
        with pytest.raises(Busy) as busy, seats.scanning(["p", "q"]):
            pass
        assert 9 <= busy.value.retry_after <= 10  # when the first of the two should end
        assert "2 scans of pair 'p' are already under way" in str(busy.value)
        with seats.scanning(["q"]):  # another pair is not held back
            pass
    with seats.scanning(["p"]):  # the slots came back
        pass
    with seats.seat(), seats.seat(), seats.seat():
        with pytest.raises(Busy) as busy, seats.seat():
            pass
    with seats.seat():
        pass
    r = from_busy(busy.value)
    assert r.status_code == 503 and r.mimetype == "application/problem+json"
    assert r.headers["Retry-After"] == "1" and "3 requests already wait" in r.get_json()["detail"]
