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
from omapifo.config import Config, ServiceConfig

from .conftest import READER, auth, wait_for

pytestmark = pytest.mark.integration
PAIR = "classroom-1-6"


def test_fresh_reads_of_a_frozen_peer_share_one_read_and_never_block_the_rest(healthy_lab,
                                                                             service_cfg):
    lab = healthy_lab
    config = load_config(service_cfg)
    timeout = config.pairs[PAIR].timeout
    url, run, stop = servecli.start(config, "127.0.0.1:0")  # 8 waitress threads
    thread = servecli.run_in_thread(run)
    answers: list[tuple[int | str, dict[str, str], float]] = []
    took: list[tuple[str, int | str, float]] = []

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
        before = count_reads()
        burst = [threading.Thread(target=lambda: answers.append(
            get(f"/api/v1/pairs/{PAIR}?fresh=1", 30))) for _ in range(12)]
        for b in burst:
            b.start()
        for _ in range(4):  # throughout the burst
            time.sleep(0.3)
            for path in ("/healthz", f"/api/v1/pairs/{PAIR}"):
                status, _, elapsed = get(path, 10)
                took.append((path, status, round(elapsed, 3)))
        for b in burst:
            b.join(30)
        reads = count_reads() - before
    finally:
        lab.heal(Role.SECONDARY)
        stop()
        thread.join(10)
    assert all(status == 200 and elapsed < 1.0 for _, status, elapsed in took), took
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
    held APScheduler's one shared 10-thread executor."""
    base = lab.pair_config()
    # every pair is the lab's pair under another name (load_config refuses the same dhcpd
    # twice, so the Config is built directly)
    pairs = {f"p{i:02d}": dataclasses.replace(base, name=f"p{i:02d}",
                                              failover_peer=base.failover_peer)
             for i in range(20)}
    interval = 1.0
    # every pair's peers are the same two dhcpd, so the four scans at once share one budget
    # per peer (omapifo/budget.py): 160 lookups/s is 40 each, and a scan of 128 addresses
    # lasts ~3 s, longer than a poll interval
    service = ServiceConfig(poll_interval=interval, pool_interval=5.0, pool_scan_rate=160.0,
                            database=tmp_path / "db.sqlite3")
    app = create_app(Config(pairs=pairs, service=service), poll=True)
    poller = app.extensions["omapifo"].poller
    worst: dict[str, float] = {}
    try:
        assert wait_for(lambda: len(poller.polled_at) == len(pairs), 3 * interval), \
            sorted(set(pairs) - set(poller.polled_at))
        start = time.monotonic()
        while time.monotonic() - start < 8:
            now = time.monotonic()
            for name in pairs:
                worst[name] = max(worst.get(name, 0.0), now - poller.polled_at[name])
            time.sleep(0.1)
        scans_made = poller.scans.calls
    finally:
        t = time.monotonic()
        app.extensions["omapifo"].close()
        closing = time.monotonic() - t
    late = {n: round(w, 2) for n, w in worst.items() if w > interval + 0.6}
    assert not late, late
    assert scans_made >= 4  # scans did run alongside (four at a time)
    assert closing < 10  # queued scans are dropped at stop, running ones end (~3 s)
