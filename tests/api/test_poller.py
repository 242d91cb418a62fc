"""The poller's bookkeeping, with stand-in pairs: overlapping polls, unknown states,
incomplete scans (the lab pair cannot be made to report an unknown state or to overlap
two polls on cue; the poller's behaviour against the lab is in test_service.py)."""
from __future__ import annotations

import dataclasses
import threading

from omapifo import FailoverStatus, PairState, PeerView, Role
from omapifo.api.poller import Metrics, Poller
from omapifo.api.store import Store
from omapifo.health import assess

from ..clients.samples import NOW, P, PRIMARY, SECONDARY, pool_report
from ..recorded import failover_state


def pair_state(primary_local: int) -> PairState:
    views = [PeerView(Role.PRIMARY, PRIMARY,
                      FailoverStatus.from_omapi(P, failover_state(primary_local, 2))),
             PeerView(Role.SECONDARY, SECONDARY,
                      FailoverStatus.from_omapi(P, failover_state(2, primary_local)))]
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
