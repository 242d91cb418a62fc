"""The poller's bookkeeping, with stand-in pairs: overlapping polls, unknown states,
incomplete scans (the lab pair cannot be made to report an unknown state or to overlap
two polls on cue; the poller's behaviour against the lab is in test_service.py)."""
from __future__ import annotations

import dataclasses
import threading
import time
from types import SimpleNamespace

from prometheus_client import generate_latest

from omapifo import PairProbe, PairState, PeerView, ProbeError, ProbeResult, Role
from omapifo import _wire as wire
from omapifo.api.flights import Busy
from omapifo.api.metrics import Metrics
from omapifo.api.poller import Poller
from omapifo.api.store import Store
from omapifo._health import assess

from ..clients.samples import NOW, P, PRIMARY, SECONDARY, pool_report
from ..recorded import failover_state


def pair_state(primary_local: int) -> PairState:
    views = [PeerView(Role.PRIMARY, PRIMARY,
                      wire.failover_status(P, failover_state(primary_local, 2))),
             PeerView(Role.SECONDARY, SECONDARY,
                      wire.failover_status(P, failover_state(2, primary_local)))]
    return PairState(P, *views, NOW, assess(*views, NOW))


class StandIn:
    """A pair whose state() answers from a list; a call may wait for an event first."""

    def __init__(self, answers: list[tuple[PairState, threading.Event | None]]) -> None:
        self.answers = answers

    def state(self) -> PairState:
        st, wait_for = self.answers.pop(0)
        if wait_for is not None:
            assert wait_for.wait(5)
        return st


def poller(pair: StandIn) -> Poller:
    return Poller({P: pair}, Store(":memory:"), Metrics(), interval=10)  # type: ignore[dict-item]


def test_a_slow_older_poll_never_replaces_a_newer_one():
    newer_done = threading.Event()
    pair = StandIn([(pair_state(2), newer_done), (pair_state(3), None)])
    p = poller(pair)
    slow = threading.Thread(target=p.poll, args=(P,))
    slow.start()  # started first, answers last
    while len(pair.answers) == 2:  # until the slow poll has taken its answer
        threading.Event().wait(0.01)
    p.poll(P)
    newer_done.set()
    slow.join(5)
    assert p.cached(P).state.primary.local_state == 3  # the later-started poll stays
    assert p.polls == 2


def test_an_unknown_state_is_a_state_in_the_history():
    pair = StandIn([(pair_state(2), None), (pair_state(0), None)])
    p = poller(pair)
    p.poll(P)
    p.poll(P)
    rows, _ = p.store.transitions(P)
    primary = [r for r in rows if r.peer == "primary" and r.field == "local_state"]
    assert [(r.from_value, r.to_value) for r in primary] == [("normal", "unknown-state")]


def test_an_incomplete_scan_does_not_count_as_the_last_complete_one():
    m = Metrics()
    incomplete = pool_report()  # the secondary's scan failed
    m.observe_pools(incomplete)
    assert m.registry.get_sample_value("omapifo_pool_scan_timestamp_seconds",
                                       {"pair": P}) is None
    m.observe_pools(dataclasses.replace(incomplete, errors={}))
    assert m.registry.get_sample_value("omapifo_pool_scan_timestamp_seconds",
                                       {"pair": P}) == NOW.timestamp()


def test_one_scan_of_a_pair_at_a_time():
    """The job and ?fresh=1 may ask at once; two scans would double the rate dhcpd sees."""
    inside, most = [0], [0]
    guard = threading.Lock()

    class Scanning(StandIn):
        def pools(self, rate=None):
            with guard:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            threading.Event().wait(0.2)
            with guard:
                inside[0] -= 1
            return pool_report()

    p = poller(Scanning([]))
    scans = [threading.Thread(target=p.scan, args=(P,)) for _ in range(3)]
    for t in scans:
        t.start()
    for t in scans:
        t.join(5)
    assert most[0] == 1


# -- shared fresh reads (single flight), metrics without stale truth -------------------

class Counting:
    """A pair whose state() blocks until ``release`` is set and counts its calls."""

    config = type("Cfg", (), {"timeout": 3.0, "dhcpd_conf": None, "pool_scans": True})()

    def __init__(self, state: PairState | None = None) -> None:
        self.release = threading.Event()
        self.calls = 0
        self.state_ = state or pair_state(2)
        self.lock = threading.Lock()

    def state(self) -> PairState:
        with self.lock:
            self.calls += 1
        assert self.release.wait(10)
        return self.state_

    def pools(self, rate=None):
        with self.lock:
            self.calls += 1
        assert self.release.wait(10)
        return pool_report()


def counting_poller(pair: Counting, **kw) -> Poller:
    return Poller({P: pair}, Store(":memory:"), Metrics(), interval=10,  # type: ignore[dict-item]
                  **kw)


def run_all(fns, timeout: float = 10) -> list:
    """Call every fn in a thread of its own; their results or exceptions, in order."""
    out: list = [None] * len(fns)

    def one(i, fn):
        try:
            out[i] = fn()
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            out[i] = exc

    threads = [threading.Thread(target=one, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive()
    return out


def test_concurrent_fresh_reads_share_one_read_and_waiters_get_busy_in_time():
    pair = Counting()
    p = counting_poller(pair, fresh_wait=0.2)
    leader = threading.Thread(target=p.get, args=(P, True))
    leader.start()
    while pair.calls == 0:
        threading.Event().wait(0.005)
    t = time.monotonic()
    got = run_all([lambda: p.get(P, fresh=True) for _ in range(11)])
    waited = time.monotonic() - t
    assert all(isinstance(g, Busy) for g in got), got
    assert 0.2 <= waited < 1.5  # each waited fresh_wait, together, not one after another
    assert all(1 <= g.retry_after <= 7 for g in got)  # 2 x timeout + 1 at most
    assert pair.calls == 1
    pair.release.set()
    leader.join(5)
    # a result younger than fresh_min_age is reused, also by GET /peers/{role}'s reads
    assert p.get(P, fresh=True) is p.cached(P) and pair.calls == 1


def test_callers_that_arrive_during_a_read_share_its_result():
    pair = Counting()
    p = counting_poller(pair, fresh_wait=5)
    threading.Timer(0.3, pair.release.set).start()
    got = run_all([lambda: p.get(P, fresh=True) for _ in range(8)] + [lambda: p._job(P)])
    assert pair.calls == 1 and p.polls == 1
    snaps = [g for g in got if g is not None]
    assert len(snaps) == 8 and all(s is snaps[0] for s in snaps)


def test_a_result_is_reused_only_while_younger_than_fresh_min_age_and_never_by_the_job():
    pair = Counting()
    pair.release.set()
    p = counting_poller(pair, fresh_min_age=0.3)
    p.get(P, fresh=True)
    p.get(P, fresh=True)
    assert pair.calls == 1
    p._job(P)  # the job reads even so: it must not starve itself of polls
    assert pair.calls == 2
    threading.Event().wait(0.35)
    p.get(P, fresh=True)
    assert pair.calls == 3


def test_fresh_pool_scans_are_shared_and_rate_limited():
    pair = Counting()
    p = counting_poller(pair, fresh_wait=0.2, pool_fresh_min_age=0.5)
    threading.Timer(0.1, pair.release.set).start()
    got = run_all([lambda: p.pools(P, fresh=True) for _ in range(6)])
    assert pair.calls == 1 and all(g is got[0] for g in got)
    assert p.pools(P, fresh=True) is got[0] and pair.calls == 1  # younger than the min age
    threading.Event().wait(0.55)
    p.pools(P, fresh=True)
    assert pair.calls == 2
    pair.release.clear()
    slow = threading.Thread(target=p.pools, args=(P, True))
    threading.Event().wait(0.55)
    slow.start()
    while pair.calls < 3:
        threading.Event().wait(0.005)
    busy = run_all([lambda: p.pools(P, fresh=True)])[0]
    assert isinstance(busy, Busy) and busy.retry_after >= 1
    pair.release.set()
    slow.join(5)


def samples(m: Metrics, name: str) -> dict[str, float]:
    return {s.labels.get("state", s.labels["peer"]): s.value
            for fam in m.registry.collect() for s in fam.samples if s.name == name}


def test_an_unreachable_peer_has_no_state_series_until_it_answers_again():
    from ..clients.samples import pair_state as sample_state

    m = Metrics()
    reachable, dead = sample_state(), sample_state(secondary_reachable=False)
    m.observe(reachable, 0.01)
    assert set(samples(m, "omapifo_peer_local_state")) == {"primary", "secondary"}
    m.observe(dead, 0.01)
    for name in ("omapifo_peer_local_state", "omapifo_peer_partner_state",
                 "omapifo_peer_state_seconds"):
        assert set(samples(m, name)) == {"primary"}, name
    states = [s for fam in m.registry.collect() for s in fam.samples
              if s.name == "omapifo_peer_state"]
    assert states and all(s.labels["peer"] == "primary" for s in states)
    assert m.registry.get_sample_value("omapifo_peer_reachable",
                                       {"pair": P, "peer": "secondary"}) == 0
    m.observe(reachable, 0.01)
    assert set(samples(m, "omapifo_peer_local_state")) == {"primary", "secondary"}
    assert m.registry.get_sample_value("omapifo_polls_total", {"pair": P}) == 3
    assert m.registry.get_sample_value("omapifo_poll_errors_total",
                                       {"pair": P, "peer": "secondary"}) == 1
    assert m.registry.get_sample_value("omapifo_poll_errors_total",
                                       {"pair": P, "peer": "primary"}) is None


def test_count_action_counts_by_pair_action_and_outcome():
    m = Metrics()
    m.count_action(P, "partner-down", "refused")
    m.count_action(P, "partner-down", "refused")
    m.count_action(P, "release", "done")
    get = m.registry.get_sample_value
    assert get("omapifo_actions_total", {"pair": P, "action": "partner-down",
                                         "outcome": "refused"}) == 2
    assert get("omapifo_actions_total", {"pair": P, "action": "release",
                                         "outcome": "done"}) == 1


def test_long_scans_never_hold_back_the_polls_of_many_pairs():
    """20 pairs whose scans last longer than the poll interval, all due at start-up."""

    class Slow:
        config = type("Cfg", (), {"timeout": 3.0, "dhcpd_conf": "x", "pool_scans": True,
                                  "probe_giaddr": None})()

        def state(self):
            return pair_state(2)

        def pools(self, rate=None):
            threading.Event().wait(1.5)
            return pool_report()

    pairs = {f"p{i}": Slow() for i in range(20)}
    p = Poller(pairs, Store(":memory:"), Metrics(), interval=0.5,  # type: ignore[arg-type]
               pool_interval=0.5)
    p.start()
    try:
        threading.Event().wait(2.0)
        now = time.monotonic()
        stale = {n: round(now - p.polled_at.get(n, 0), 1) for n in pairs
                 if now - p.polled_at.get(n, 0) > 0.5 + 0.5}
        assert not stale, stale
    finally:
        p.stop()


def test_the_first_request_to_join_the_jobs_read_waits_for_it_the_next_gets_busy():
    """As if it had made the read itself: ?fresh=1 while the job reads (the fault tests)."""
    pair = Counting()
    p = counting_poller(pair, fresh_wait=0.1)
    job = threading.Thread(target=p._job, args=(P,))
    job.start()
    while pair.calls == 0:
        threading.Event().wait(0.005)
    threading.Timer(0.5, pair.release.set).start()
    first, second = run_all([lambda: p.get(P, fresh=True),
                             lambda: (threading.Event().wait(0.05), p.get(P, fresh=True))])
    job.join(5)
    assert first is p.cached(P) and isinstance(second, Busy) and pair.calls == 1


def test_a_result_the_job_read_alone_is_not_reused_by_a_fresh_read():
    """?fresh=1 bypasses the poller's cache: the job's last poll may predate a fault."""
    pair = Counting()
    pair.config = type("Cfg", (), {"timeout": 3.0, "dhcpd_conf": "dhcpd.conf",
                                    "pool_scans": True})()
    pair.release.set()
    p = counting_poller(pair, fresh_min_age=60, pool_fresh_min_age=60)
    p._job(P)
    p.get(P, fresh=True)
    assert pair.calls == 2
    p.get(P, fresh=True)  # what a request got is reused
    assert pair.calls == 2
    p._scan_job(P)
    p.pools(P, fresh=True)
    assert pair.calls == 4
    p.pools(P, fresh=True)
    assert pair.calls == 4


def test_the_health_gauge_is_0_ok_1_warning_2_critical():
    """The documented gauge scale, whatever order Level has inside (it also holds INFO)."""
    m = Metrics()
    for local, level, value in ((2, "ok", 0), (1, "warning", 1), (5, "critical", 2)):
        st = pair_state(local)  # normal, startup, potential-conflict
        assert str(st.health.level) == level
        m.observe(st, 0.01)
        assert m.registry.get_sample_value("omapifo_pair_health", {"pair": P}) == value


class Probed:
    """A pair with a probe address whose probe() answers from a list (or raises)."""

    def __init__(self, giaddr: str | None, rounds: list) -> None:
        self.config = SimpleNamespace(probe_giaddr=giaddr, dhcpd_conf=None, pool_scans=False,
                                      timeout=1.0)
        self.rounds = rounds

    def state(self) -> PairState:
        return pair_state(2)

    def probe(self) -> PairProbe:
        got = self.rounds.pop(0)
        if isinstance(got, Exception):
            raise got
        return got


def _answers(primary: bool, secondary: bool) -> PairProbe:
    return PairProbe(P, "198.18.9.1", 4, 3.0, tuple(
        ProbeResult(role, "x", "02:6f:6d:70:00:01", 1, NOW, ok, latency=1.0 if ok else None)
        for role, ok in ((Role.PRIMARY, primary), (Role.SECONDARY, secondary))))


def test_probe_jobs_only_for_pairs_with_a_probe_address():
    p = Poller({"with": Probed("198.18.9.1", []), "without": Probed(None, [])},  # type: ignore[dict-item]
               Store(":memory:"), Metrics(), interval=3600, pool_interval=3600,
               probe_interval=3600)
    p._probe_job = lambda name: None  # type: ignore[method-assign]
    p._job = lambda name: None  # type: ignore[method-assign]
    p.start()
    try:
        ids = {job.id for job in p._scheduler.get_jobs()}
    finally:
        p.stop()
    assert "with/probe" in ids and "without/probe" not in ids


def test_a_round_this_host_cannot_send_drops_the_last_answers():
    """A ProbeError (port 67, the relay address) says nothing of the servers: their last
    answers go rather than stay as if fresh, and the error is counted."""
    pair = Probed("198.18.9.1", [_answers(True, False), ProbeError("port 67 in use")])
    p = Poller({P: pair}, Store(":memory:"), Metrics(), interval=10)  # type: ignore[dict-item]
    p._probe_job(P)
    text = generate_latest(p.metrics.registry).decode()
    assert f'omapifo_probe_success{{pair="{P}",peer="primary"}} 1.0' in text
    assert f'omapifo_probe_success{{pair="{P}",peer="secondary"}} 0.0' in text
    assert f'omapifo_probe_latency_seconds{{pair="{P}",peer="secondary"}}' not in text
    p._probe_job(P)
    text = generate_latest(p.metrics.registry).decode()
    assert "omapifo_probe_success{" not in text
    assert f'omapifo_probe_errors_total{{pair="{P}"}} 1.0' in text
    assert p.last_probe(P) is None and p.probe_failure(P) == "port 67 in use"
    pair.rounds.append(_answers(True, True))
    p._probe_job(P)
    assert p.probe_failure(P) is None and p.last_probe(P).serving == list(Role)
