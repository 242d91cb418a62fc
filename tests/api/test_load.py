"""A service that stays up for everyone (issue 12), against the lab: fresh reads of a frozen
peer share one read and never block /healthz or the cached state; long pool scans of many
pairs never hold back their polls."""
from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest
import requests

from omapifo import Role, load_config
from omapifo.api import create_app
from omapifo.clients import servecli
from omapifo._config import Config, ServiceConfig

from .conftest import READER, auth, wait_for

pytestmark = pytest.mark.integration
PAIR = "classroom-1-6"


def test_fresh_reads_of_a_frozen_peer_share_one_read_and_never_block_the_rest(healthy_lab,
                                                                             service_cfg):
    lab = healthy_lab
    # each read of the frozen peer lasts the pair's timeout: 6 s here, so the requests that
    # must not wait for it have seconds to show it, not a tight bound on a loaded machine
    service_cfg.write_text(service_cfg.read_text().replace("timeout = 3.0", "timeout = 6.0"))
    config = load_config(service_cfg)
    timeout = config.pairs[PAIR].timeout
    assert timeout == 6.0
    url, run, stop = servecli.start(config, "127.0.0.1:0")  # 8 waitress threads
    thread = servecli.run_in_thread(run)
    answers: list[tuple[int | str, dict[str, str], float]] = []
    took: list[tuple[str, int | str, float, bool]] = []

    def get(path: str, limit: float) -> tuple[int | str, dict[str, str], float]:
        t = time.monotonic()
        try:
            r = requests.get(url + path, headers=auth(READER), timeout=limit)
            return r.status_code, dict(r.headers), time.monotonic() - t
        except requests.RequestException as exc:  # the assertions below say what it means
            return type(exc).__name__, {}, time.monotonic() - t

    try:
        # the job has polled (a read of a request's own would be reused for fresh_min_age)
        assert wait_for(lambda: requests.get(f"{url}/healthz", timeout=5).json()["polls"], 10)
        count_reads = reads_counter(url)
        lab.pause(Role.SECONDARY)  # accepts, never answers: each read lasts its timeout
        time.sleep(0.2)  # a poll that had both answers when the peer froze has ended now
        before = count_reads()
        burst = [threading.Thread(target=lambda: answers.append(
            get(f"/api/v1/pairs/{PAIR}?fresh=1", 30))) for _ in range(12)]
        for b in burst:
            b.start()
        for _ in range(4):  # throughout the burst
            time.sleep(0.3)
            for path in ("/healthz", f"/api/v1/pairs/{PAIR}"):
                status, _, elapsed = get(path, 30)
                # answered while no read of the frozen peer has ended yet: not blocked
                # behind one (a condition, not a time limit: the read lasts the timeout)
                during = count_reads() == before
                took.append((path, status, round(elapsed, 3), during))
        for b in burst:
            b.join(30)
        reads = count_reads() - before
    finally:
        lab.heal(Role.SECONDARY)
        stop()
        thread.join(10)
    assert all(status == 200 and during for path, status, _, during in took), took
    print(f"cached state and /healthz during the frozen read: slowest "
          f"{max(elapsed for _, _, elapsed, _ in took):.3f} s, the burst's slowest "
          f"{max(elapsed for _, _, elapsed in answers):.2f} s (timeout {timeout:g} s)")
    assert len(answers) == 12
    for status, headers, elapsed in answers:
        assert status in (200, 503), status
        assert elapsed < 2 * timeout + 2, elapsed  # one shared read at most, never a queue
        if status == 503:
            assert headers["Content-Type"] == "application/problem+json"
            assert int(headers["Retry-After"]) >= 1
    assert reads <= 3, reads  # the job's and one request's at most, not one per request


def reads_counter(url: str):
    """The number of state reads the service made so far, from its own metrics."""
    def count() -> float:
        text = requests.get(f"{url}/metrics", timeout=5).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("omapifo_polls_total{"))
    return count


def test_twenty_pairs_scanning_their_pools_are_all_polled_within_their_interval(lab,
                                                                               tmp_path: Path):
    """Before: with 20 pairs scanning at start-up, 10 pairs went unpolled while the scans
    held APScheduler's one shared 10-thread executor.

    A condition, not a time limit: once every scan thread is busy (the number of scans in
    flight has stopped growing), every pair is still polled twice (its interval is 1 s)
    before the first pool scan ends (each lasts ~11 s: 128 addresses at 12 lookups/s per
    peer). A pair starved by the scans is not polled at all until one lets go of its
    thread. The time it took and the longest gap between two polls are printed."""
    base = lab.pair_config()
    # every pair is the lab's pair under another name (load_config refuses the same dhcpd
    # twice, so the Config is built directly)
    pairs = {f"p{i:02d}": dataclasses.replace(base, name=f"p{i:02d}",
                                              failover_peer=base.failover_peer)
             for i in range(20)}
    interval = 1.0
    # every pair's peers are the same two dhcpd, so the four scans at once share one budget
    # per peer (omapifo/_budget.py): 48 lookups/s is 12 each, and a scan of 128 addresses
    # lasts ~10 s, many poll intervals
    service = ServiceConfig(poll_interval=interval, pool_interval=5.0, pool_scan_rate=48.0,
                            database=tmp_path / "db.sqlite3")
    app = create_app(Config(pairs=pairs, service=service), poll=True)
    poller = app.extensions["omapifo"].poller
    polls = dict.fromkeys(pairs, 0)
    worst = dict.fromkeys(pairs, 0.0)

    def scanning() -> bool:  # no scan has ended yet (each stores its report at the end)
        return all(poller.last_pools(name) is None for name in pairs)

    def in_flight() -> int:  # scans under way (the shared-call table of the poller's scans)
        return len(poller.scans._flights)
    try:
        assert wait_for(lambda: len(poller.polled_at) == len(pairs), 30), \
            sorted(set(pairs) - set(poller.polled_at))
        # every scan thread busy: the number in flight has not grown for 1.5 s (scan jobs
        # start 0.25 s apart, staggered over pool_interval)
        seen = [(time.monotonic(), in_flight())]

        def saturated() -> bool:
            now, n = time.monotonic(), in_flight()
            if n > seen[-1][1]:
                seen.append((now, n))
            return n > 0 and now - seen[-1][0] >= 1.5
        assert wait_for(saturated, 30, step=0.05), seen
        busy = seen[-1][1]
        start = time.monotonic()
        last = dict(poller.polled_at)

        def polled_twice() -> bool:
            now = time.monotonic()
            for name in pairs:
                at = poller.polled_at[name]
                worst[name] = max(worst[name], now - at)
                if at != last[name]:
                    polls[name], last[name] = polls[name] + 1, at
            return all(n >= 2 for n in polls.values()) or not scanning()
        assert scanning(), "a scan ended before the polls could be watched"
        assert wait_for(polled_twice, 60, step=0.05)
        took = time.monotonic() - start
        still_scanning, scans_started = scanning(), poller.scans.calls
    finally:
        calls_at_stop = poller.scans.calls
        t = time.monotonic()
        app.extensions["omapifo"].close()
        closing = time.monotonic() - t
    print(f"{busy} scans in flight; every pair polled twice {took:.2f} s later, the scans "
          f"still running: {still_scanning}; longest gap between polls "
          f"{max(worst.values()):.2f} s; close took {closing:.2f} s")
    assert still_scanning, {n: c for n, c in polls.items() if c < 2}  # none starved
    assert scans_started >= 4  # scans did run alongside (four at a time)
    # queued scans are dropped at stop: only those already begun ran (four threads)
    assert poller.scans.calls - calls_at_stop <= 4, (calls_at_stop, poller.scans.calls)
