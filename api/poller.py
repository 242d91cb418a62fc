"""Scheduled health polling: one APScheduler job per pair, a cache, transitions, metrics.

Jobs never overlap (``max_instances=1``) and missed runs are coalesced, so a slow peer
(every request bounded by the pair's OMAPI timeout) delays one pair's next poll at most,
never the others'. Polls run in an executor with one thread per pair and pool scans in
one of their own, so long scans never hold a poll back. The scheduler is started by
``create_app`` only when asked, never at import time.

Reads asked for by requests (``?fresh=1``, ``GET /peers/{role}``, ``GET /pools?fresh=1``)
go through a single flight per pair: callers that arrive while a read of that pair is
under way share it (the scheduled job too), a result younger than a minimum age is
reused, and a request waits for someone else's read only briefly before it gets
:class:`Busy` (503 + Retry-After): a frozen peer holds one thread for its timeout, not
one per caller.

Scans asked for by requests (lease lists, searches by hostname) are bounded twice
(:class:`ScanSeats`): at most :data:`SCANS_PER_PAIR` of one pair at once, and at most
:data:`SCAN_REQUESTS` requests held by scans in the whole service (those making one and
those sharing one); a request beyond either bound gets :class:`Busy` at once. Identical
ones in flight are shared. Every scan's lookups draw from its peer's one rate budget
(:mod:`omapifo.budget`), the scheduled pool scans' too.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Generic, TypeVar

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from omapifo import (FailoverPair, FailoverState, LeaseList, LeaseSearch, PairState,
                     PoolReport, Role, __version__, find_leases)
from omapifo.errors import ConfigError
from omapifo.omapi import parse_ip
from omapifo.severity import PEER_CRITICAL_AFTER

from . import logs
from .schemas import PairStateSchema
from .store import Store, Transition

log = logging.getLogger("omapifo.api.poller")
_STATE_SCHEMA = PairStateSchema()  # one instance: every poll of every pair serialises with it
_STATES = [s for s in FailoverState if s is not FailoverState.UNKNOWN_STATE]
# Scans at once: each runs three threads (its job, one per peer) and each peer's lookups
# draw from its one budget at pool_scan_rate; four bound what scans of many pairs cost
# the service.
SCAN_THREADS = 4
# Scans that requests may run of one pair at once (lease lists, hostname searches); a
# third gets 503. Each peer's lookups are capped by its budget whatever runs, so more
# scans at once only make each slower, and each holds a request thread throughout.
SCANS_PER_PAIR = 2
# Requests that may wait for scans at once in the whole service, making one or sharing
# one. `omapifo serve` runs 8 waitress threads: at least four always stay free for
# everything else, so an operator's change never queues behind readers' scans. Measured
# before (issue 21): 16 concurrent searches held every thread for the length of a scan
# of a /16 and a partner-down waited behind them.
SCAN_REQUESTS = 4
T = TypeVar("T")
# omapifo_pool_addresses' states: every binding state dhcpd has, and "unknown" (an address of
# the range without a lease), so that they sum to omapifo_pool_size_addresses. The pool's
# total used to be a state="total" series of the same family: every sum counted it twice.
POOL_STATES = ("active", "free", "backup", "expired", "released", "abandoned", "reset",
               "reserved", "bootp", "unknown")


class Busy(Exception):
    """A read of this pair is already under way and did not finish within the wait (or
    the scans a request may start are all under way: ``detail`` says which)."""

    def __init__(self, what: str, pair: str, retry_after: int,
                 detail: str | None = None) -> None:
        self.what = what
        self.pair = pair
        self.retry_after = retry_after
        super().__init__(detail or (
            f"a {what} of pair {pair!r} is already under way; retry in "
            f"{retry_after} s (or read the cached result without ?fresh=1)"))


def _drop(gauge: Gauge, *labels: str) -> None:
    with contextlib.suppress(KeyError):  # prometheus_client before 0.20 raised for absent ones
        gauge.remove(*labels)


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app).

    ``critical_after`` is the service's ``comms_interrupted_warning``: exported so that the
    alerting rules compare against the number the service rates by (issue 22)."""

    def __init__(self, critical_after: float = PEER_CRITICAL_AFTER) -> None:
        self.registry = CollectorRegistry()
        labels = ["pair", "peer"]
        r = self.registry
        self.local_state = Gauge("omapifo_peer_local_state", "dhcpd's own failover state "
                                 "number (2 normal, 3 communications-interrupted, 4 "
                                 "partner-down, ...)", labels, registry=r)
        self.partner_state = Gauge("omapifo_peer_partner_state", "the state this peer "
                                   "believes its partner is in (number)", labels, registry=r)
        self.state_info = Gauge("omapifo_peer_state", "1 for the peer's current local state",
                                labels + ["state"], registry=r)
        self.reachable = Gauge("omapifo_peer_reachable", "1 if the peer answered OMAPI",
                               labels, registry=r)
        self.state_seconds = Gauge("omapifo_peer_state_seconds", "seconds since the peer's "
                                   "last state change", labels, registry=r)
        self.health = Gauge("omapifo_pair_health", "0 ok, 1 warning, 2 critical", ["pair"],
                            registry=r)
        self.poll_duration = Histogram("omapifo_poll_duration_seconds", "time to read both "
                                       "peers", ["pair"], registry=r,
                                       buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                2.5, 5, 10))
        self.pool_addresses = Gauge("omapifo_pool_addresses", "addresses of a pool by binding "
                                    "state (from the last scan; unknown: no lease); they sum "
                                    "to omapifo_pool_size_addresses", ["pair", "pool", "state"],
                                    registry=r)
        self.pool_size = Gauge("omapifo_pool_size_addresses", "addresses in a pool's ranges",
                               ["pair", "pool"], registry=r)
        # which omapifo answers: the usual constant-1 info gauge, joined on by dashboards
        self.build_info = Gauge("omapifo_build_info", "always 1; the omapifo version serving "
                                "these metrics", ["version"], registry=r)
        self.build_info.labels(__version__).set(1)
        self.pool_runway = Gauge("omapifo_pool_runway_addresses", "addresses a peer can still "
                                 "hand out alone if its partner disappears now",
                                 ["pair", "pool", "peer"], registry=r)
        self.pool_scan_time = Gauge("omapifo_pool_scan_timestamp_seconds", "UNIX time of the "
                                    "last complete pool scan", ["pair"], registry=r)
        self.last_success = Gauge("omapifo_poll_last_success_timestamp_seconds", "UNIX time of "
                                  "the last poll that reached both peers", ["pair"], registry=r)
        self.polls = Counter("omapifo_polls", "polls of a pair (both peers read)", ["pair"],
                             registry=r)
        self.poll_errors = Counter("omapifo_poll_errors", "polls in which this peer could not "
                                   "be read", labels, registry=r)
        self.actions = Counter("omapifo_actions", "partner-down, shutdown and release "
                               "decisions by outcome", ["pair", "action", "outcome"],
                               registry=r)
        # -- what the alerting rules need to fail loud, not silent (issue 22) --
        # Always there, whatever the pairs do: deploy/prometheus/omapifo.rules.yml's
        # OmapifoDown fires for a target that does not export it, and its
        # DhcpCommunicationsInterrupted compares omapifo_peer_state_seconds against it.
        self.critical_after = Gauge("omapifo_peer_critical_after_seconds", "seconds of "
                                    "communications-interrupted after which this service "
                                    "calls a pair critical (comms_interrupted_warning; "
                                    "omapifo check's default -c)", registry=r)
        self.critical_after.set(critical_after)
        self.maintenance = Gauge("omapifo_maintenance_in_progress", "1 for the peer under a "
                                 "planned maintenance this service started, until both peers "
                                 "are normal again; 0 otherwise", labels, registry=r)
        self.maintenance_started = Gauge("omapifo_maintenance_started_timestamp_seconds",
                                         "UNIX time the planned maintenance in progress "
                                         "began (only while one is)", labels, registry=r)
        # pair -> (peer, when it began, when the service learnt that its start completed)
        self._maintenance: dict[str, tuple[str, datetime, datetime]] = {}
        self._maintenance_lock = threading.Lock()  # requests start one, polls end it

        # a stranger cannot add label values: the kind is one of two words
        self.unauthenticated = Counter(
            "omapifo_requests_unauthenticated", "requests turned away before "
            "authentication (no valid token, 401): kind=change for a POST or DELETE to an "
            "action, else other; counted and logged at a bounded rate, never stored",
            ["kind"], registry=r)
        self.store_writable = Gauge(
            "omapifo_store_writable", "1 while the service's database takes writes; 0 once "
            "one failed or it was opened read-only (disk full, read-only file system): "
            "every change is refused with 503 until a write succeeds", registry=r)

    def watch_store(self, store: Store) -> None:
        """omapifo_store_writable follows ``store.writable`` (read at each scrape)."""
        self.store_writable.set_function(lambda: 1.0 if store.writable else 0.0)

    def count_action(self, pair: str, action: str, outcome: str) -> None:
        """One decision of the audit trail (``outcome``: done, refused, dry-run, ...)."""
        self.actions.labels(pair, action, outcome).inc()

    def start_maintenance(self, pair: str, peer: str, began: datetime) -> None:
        """A planned maintenance of ``peer`` completed its start (shut down, its partner in
        partner-down): in progress until a poll reads both peers normal again
        (:meth:`observe`). Kept in memory only: a restarted service forgets it and the
        alerts page as without one (loud, never silent; docs/monitoring.md)."""
        with self._maintenance_lock:
            self._maintenance[pair] = (peer, began, datetime.now(timezone.utc))
            self._show_maintenance(pair)

    def _show_maintenance(self, pair: str) -> None:
        peer, began, _ = self._maintenance.get(pair, ("", None, None))
        for role in Role:
            self.maintenance.labels(pair, str(role)).set(1 if str(role) == peer else 0)
            if str(role) == peer and began is not None:
                self.maintenance_started.labels(pair, peer).set(began.timestamp())
            else:
                _drop(self.maintenance_started, pair, str(role))

    def _end_maintenance(self, st: PairState) -> None:
        """Both peers normal in a read that ended after the start completed: it is over. A
        poll that read both normal just before the shutdown can end after the start only
        if it took longer than the start (the partner notices the stop 8-12 s after it,
        measured; omapifo.maintenance), so it cannot end the maintenance at once."""
        normal = all(st.peer(role).local_state is FailoverState.NORMAL for role in Role)
        with self._maintenance_lock:
            current = self._maintenance.get(st.pair)
            if normal and current is not None and st.read_at > current[2]:
                del self._maintenance[st.pair]
                log.info("%s: both peers normal again: the planned maintenance of the %s is "
                         "over", st.pair, current[0])
            self._show_maintenance(st.pair)

    def observe_pools(self, report: PoolReport) -> None:
        for pool in report.pools:
            self.pool_size.labels(report.pair, pool.name).set(pool.total)
            for state in POOL_STATES:
                self.pool_addresses.labels(report.pair, pool.name, state).set(
                    getattr(pool, state))
            for peer, runway in pool.runway.items():
                self.pool_runway.labels(report.pair, pool.name, peer).set(runway)
        if report.complete:  # the metric is the time of the last *complete* scan
            self.pool_scan_time.labels(report.pair).set(report.scanned_at.timestamp())

    def observe(self, st: PairState, duration: float) -> None:
        self.poll_duration.labels(st.pair).observe(duration)
        self.polls.labels(st.pair).inc()
        self.health.labels(st.pair).set(st.health.level.code)
        both = True
        for role in Role:
            view = st.peer(role)
            peer = str(role)
            self.reachable.labels(st.pair, peer).set(1 if view.reachable else 0)
            both = both and view.reachable
            if not view.reachable:
                # No stale truth: a dead peer's last state would read as its present one
                # (omapifo_peer_local_state stayed 2 while the primary was down). Its series
                # go away until it answers again; omapifo_peer_reachable says why.
                self.poll_errors.labels(st.pair, peer).inc()
                for gauge in (self.local_state, self.partner_state, self.state_seconds):
                    _drop(gauge, st.pair, peer)
                for s in _STATES:
                    _drop(self.state_info, st.pair, peer, str(s))
                continue
            for s in _STATES:
                self.state_info.labels(st.pair, peer, str(s)).set(
                    1 if view.local_state is s else 0)
            self.local_state.labels(st.pair, peer).set(int(view.local_state or 0))
            self.partner_state.labels(st.pair, peer).set(int(view.partner_state or 0))
            if view.since:
                self.state_seconds.labels(st.pair, peer).set(
                    (st.read_at - view.since).total_seconds())
            else:
                _drop(self.state_seconds, st.pair, peer)
        if both:
            self.last_success.labels(st.pair).set(st.read_at.timestamp())
        self._end_maintenance(st)


@dataclass(frozen=True)
class Snapshot:
    """The last poll of one pair, serialised once so GETs only copy bytes."""

    state: PairState
    body: bytes


def _signature(st: PairState) -> dict[tuple[str, str], str | None]:
    out: dict[tuple[str, str], str | None] = {}
    for role in Role:
        view = st.peer(role)
        out[(str(role), "reachable")] = "yes" if view.reachable else "no"
        # `is not None`: FailoverState.UNKNOWN_STATE is 0, falsy, and still a state
        out[(str(role), "local_state")] = None if view.local_state is None \
            else str(view.local_state)
        out[(str(role), "partner_state")] = None if view.partner_state is None \
            else str(view.partner_state)
    return out


@dataclass
class _Flight(Generic[T]):
    started: float  # time.monotonic()
    request_waits: bool  # a request already waits for this call in full
    done: threading.Event = field(default_factory=threading.Event)
    result: T | None = None
    error: BaseException | None = None


class SingleFlight(Generic[T]):
    """At most one call per key under way; callers arriving meanwhile share its result.

    Requests (``wait`` given) may hold a thread for a whole call only once per call: the
    one that makes it, or the first to join a call the scheduled job made (it would have
    waited as long for a read of its own; the fault tests ask ``?fresh=1`` while the job
    reads). Every later request waits at most ``wait`` seconds, then gets :class:`Busy`.
    ``expected(key)`` is how long a call may take (for Retry-After).

    Only a result some request waited for is reused by ``min_age``: one the job made alone
    is the poller's cache, which ``?fresh=1`` asks to bypass (a poll from just before a
    peer was cut would otherwise answer for it, as it did in the fault tests).
    """

    def __init__(self, what: str, expected: Callable[[str], float]) -> None:
        self.what = what
        self.expected = expected
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight[T]] = {}
        self._last: dict[str, tuple[float, T]] = {}  # monotonic start of the last call, result
        self.calls = 0  # calls actually made (the tests count them)

    def run(self, key: str, fn: Callable[[], T], *, min_age: float = 0.0,
            wait: float | None = None) -> T:
        """``fn()``'s result, shared: a read that began less than ``min_age`` before this
        call answers it (ended or still under way); an older one under way is waited for
        (see the class), then a new one is made. ``wait=None`` is the job's way: join
        whatever is under way, always wait in full, and leave the full wait to a request.

        A read counts from when it began, not from when it ended: a fresh request must not
        get a read that began before a peer was cut (measured in the fault tests: the
        job's poll in flight at the cut answered a ``?fresh=1`` made just after it)."""
        while True:
            with self._lock:
                now = time.monotonic()
                last = self._last.get(key)
                if last is not None and now - last[0] < min_age:
                    return last[1]
                flight = self._flights.get(key)
                leader = flight is None
                if flight is None:
                    flight = self._flights[key] = _Flight(now, request_waits=wait is not None)
                    self.calls += 1
                joinable = wait is None or now - flight.started < min_age
                budget = wait
                if not leader and wait is not None and not flight.request_waits:
                    flight.request_waits = True
                    budget = None  # the first request to join a job's read waits in full
            if leader:
                break
            if not flight.done.wait(budget):
                left = flight.started + self.expected(key) - time.monotonic()
                raise Busy(self.what, key, max(1, math.ceil(left)))
            if joinable:
                if flight.error is not None:
                    raise flight.error
                return flight.result  # type: ignore[return-value]
            # it began too long before this call to answer it: make (or join) a new one
        try:
            flight.result = fn()
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
                if flight.error is None and flight.request_waits:
                    self._last[key] = (flight.started, flight.result)  # type: ignore[arg-type]
            flight.done.set()
        return flight.result


class ScanSeats:
    """The bounds on scans that requests ask for (module docstring): a *seat* for every
    request that waits for a scan, and a *slot* of each pair a scan walks. Neither is
    ever waited for: a request that finds them taken gets :class:`Busy` at once, with a
    Retry-After from when the scans under way should end (``expected(pair)``: seconds a
    scan of the pair takes)."""

    def __init__(self, expected: Callable[[str], float], per_pair: int = SCANS_PER_PAIR,
                 total: int = SCAN_REQUESTS) -> None:
        self.expected = expected
        self.per_pair = per_pair
        self.total = total
        self._lock = threading.Lock()
        self._seats = 0
        self._running: dict[str, list[float]] = {}  # pair -> monotonic starts of its scans

    def _retry_after(self, pairs: Sequence[str]) -> int:
        now = time.monotonic()
        ends = [start + self.expected(p) - now for p in pairs
                for start in self._running.get(p, ())]
        return max(1, math.ceil(min(ends))) if ends else 1

    @contextlib.contextmanager
    def seat(self) -> Iterator[None]:
        """Hold one of the service's seats for the length of the block, or Busy."""
        with self._lock:
            if self._seats >= self.total:
                retry = self._retry_after(list(self._running))
                raise Busy("scan", "*", retry, f"{self.total} requests already wait for "
                           f"scans (lease lists, searches); retry in {retry} s")
            self._seats += 1
        try:
            yield
        finally:
            with self._lock:
                self._seats -= 1

    @contextlib.contextmanager
    def scanning(self, pairs: Sequence[str]) -> Iterator[None]:
        """Hold a slot of every pair in ``pairs`` for the length of the block, or Busy."""
        start = time.monotonic()
        with self._lock:
            full = [p for p in pairs if len(self._running.get(p, ())) >= self.per_pair]
            if full:
                retry = self._retry_after(full)
                raise Busy("scan", full[0], retry, f"{self.per_pair} scans of pair "
                           f"{full[0]!r} are already under way (lease lists, searches); "
                           f"retry in {retry} s")
            for p in pairs:
                self._running.setdefault(p, []).append(start)
        try:
            yield
        finally:
            with self._lock:
                for p in pairs:
                    self._running[p].remove(start)
                    if not self._running[p]:
                        del self._running[p]


class Poller:
    def __init__(self, pairs: dict[str, FailoverPair], store: Store, metrics: Metrics,
                 interval: float, pool_interval: float = 300.0,
                 pool_rate: float | None = None, *, fresh_min_age: float = 1.0,
                 fresh_wait: float = 0.5, pool_fresh_min_age: float = 2.0,
                 pool_retention: float = 604800.0) -> None:
        self.pairs = pairs
        self.store = store
        self.metrics = metrics
        self.interval = interval
        self.pool_interval = pool_interval
        self.pool_rate = pool_rate
        self.fresh_min_age = fresh_min_age
        self.fresh_wait = fresh_wait
        self.pool_fresh_min_age = pool_fresh_min_age
        self.pool_retention = pool_retention  # seconds of pool scans the store keeps
        self._cache: dict[str, Snapshot] = {}
        self._started = itertools.count()  # direct poll() calls may still overlap
        self._cached_start: dict[str, int] = {}
        self._scan_locks = {name: threading.Lock() for name in pairs}
        self._pools: dict[str, PoolReport] = {}
        self._lock = threading.Lock()
        self._scheduler: BackgroundScheduler | None = None
        self._stopping = False
        self.polls = 0
        self.polled_at: dict[str, float] = {}  # time.monotonic() of each pair's last poll
        # set once the scheduler's first poll of every pair has ended (however it ended):
        # `omapifo serve` tells systemd it is ready then (Type=notify)
        self.first_round = threading.Event()
        self._first_polled: set[str] = set()
        if not pairs:
            self.first_round.set()
        # A state read connects and sends one request, each bounded by the pair's timeout
        # (the fault tests measure a cut peer within 2 x timeout + 1 s).
        self.reads: SingleFlight[Snapshot] = SingleFlight(
            "state read", lambda name: 2 * self.pairs[name].config.timeout + 1)
        self.scans: SingleFlight[PoolReport] = SingleFlight("pool scan", self._scan_expected)
        # lease lists and searches asked for by requests: identical ones under way are
        # shared (every joiner waits for the one scan, holding a seat); never reused after
        self.seats = ScanSeats(self._list_expected)
        self.lists: SingleFlight[LeaseList] = SingleFlight("lease list", self._list_expected)
        self.searches: SingleFlight[LeaseSearch] = SingleFlight(
            "lease search", self._list_expected)
        self._list_took: dict[str, float] = {}  # pair -> seconds its last request scan took
        self.request_scans = 0  # lease lists and searches that did scan (the tests count)

    def poll(self, name: str) -> Snapshot:
        """Read both peers of ``name`` now; record transitions; refresh cache and metrics.

        Not shared: :meth:`read` is the shared way in."""
        with self._lock:
            started = next(self._started)
        t = time.monotonic()
        st = self.pairs[name].state()
        duration = time.monotonic() - t
        snap = Snapshot(st, json.dumps(_STATE_SCHEMA.dump(st)).encode())
        with self._lock:
            self.polls += 1
            self.polled_at[name] = time.monotonic()
            if started < self._cached_start.get(name, -1):
                return snap  # a poll started later has already been stored: keep it
            previous = self._cache.get(name)
            self._cache[name] = snap
            self._cached_start[name] = started
        for role in Role:
            view = st.peer(role)
            if not view.reachable:
                logs.event(logging.WARNING, "poll-error", pair=name, peer=str(role),
                           error=view.error_kind or "PeerError", detail=view.error)
        if previous is not None:
            old, new = _signature(previous.state), _signature(st)
            for (peer, field_), value in new.items():
                if old[(peer, field_)] != value:
                    logs.event(logging.INFO, "transition", pair=name, peer=peer, field=field_,
                               **{"from": old[(peer, field_)], "to": value})
                    try:
                        self.store.add_transition(Transition(st.read_at, name, peer, field_,
                                                             old[(peer, field_)], value))
                    except sqlite3.Error as exc:  # the history loses a line, not the poll:
                        log.error("could not record a transition of %s: %s", name, exc)
        self.metrics.observe(st, duration)
        return snap

    def read(self, name: str, *, min_age: float | None = None,
             wait: float | None = None) -> Snapshot:
        """A poll of ``name`` shared with every other caller (see :class:`SingleFlight`);
        by default as a request asks: reuse for ``fresh_min_age``, wait ``fresh_wait``."""
        return self.reads.run(name, lambda: self.poll(name),
                              min_age=self.fresh_min_age if min_age is None else min_age,
                              wait=self.fresh_wait if wait is None else wait)

    def _job(self, name: str) -> None:
        try:
            # the job always reads (a result it reused would stop polling once the interval
            # is under fresh_min_age) but joins a read under way, however long it takes
            self.reads.run(name, lambda: self.poll(name), min_age=0.0, wait=None)
            self.store.probe()  # keeps omapifo_store_writable true between changes
        except Exception:  # noqa: BLE001 - a poll must never kill the scheduler thread
            log.exception("poll of %s failed", name)
        finally:
            with self._lock:
                self._first_polled.add(name)
                if len(self._first_polled) == len(self.pairs):
                    self.first_round.set()

    def scan(self, name: str) -> PoolReport:
        """Scan ``name``'s pools now (rate-capped), cache the report and its metrics.

        One scan of a pair at a time (direct calls too): two at once would ask dhcpd for
        twice the configured rate."""
        with self._scan_locks[name]:
            try:
                report = self.pairs[name].pools(rate=self.pool_rate)
            except OSError as exc:
                if exc.filename is None:
                    raise
                # FailoverPair.dhcpd_conf() stats and parses the file on every scan; a file
                # that went missing was an uncaught FileNotFoundError (a 500) before
                raise ConfigError(f"pair {name!r}: cannot read its dhcpd_conf "
                                  f"{exc.filename}: {exc.strerror}") from None
        with self._lock:
            self._pools[name] = report
        self.metrics.observe_pools(report)
        try:
            self.store.add_pool_scan(report, self.pool_retention)
        except sqlite3.Error:  # the series is for charts: a locked database loses a point,
            log.exception("could not record the pool scan of %s", name)  # not the scan
        return report

    def _scan_expected(self, name: str) -> float:
        with self._lock:
            last = self._pools.get(name)
        return last.duration + 1 if last else 2 * self.pairs[name].config.timeout + 1

    def pools(self, name: str, fresh: bool = False) -> PoolReport:
        """The last scan's report; ``fresh``: one no older than ``pool_fresh_min_age``,
        shared with any scan of the pair under way (joined for ``fresh_wait``). The request
        that scans holds one of the service's seats (:class:`ScanSeats`) throughout; those
        that join wait briefly and need none."""
        with self._lock:
            report = None if fresh else self._pools.get(name)
        if report is not None:
            return report
        if not self.pairs[name].config.pool_scans:
            raise ConfigError(f"pair {name!r}: the service's pool scans are switched off "
                              "(pool_scans = false in its configuration)")

        def seated() -> PoolReport:
            with self.seats.seat():
                return self.scan(name)
        return self.scans.run(name, seated, min_age=self.pool_fresh_min_age,
                              wait=self.fresh_wait)

    # -- lease lists and searches for requests (bounded: ScanSeats) ---------------------

    def _list_expected(self, name: str) -> float:
        with self._lock:
            took = self._list_took.get(name)
        return took + 1 if took is not None else self._scan_expected(name)

    def _timed_scan(self, pairs: Sequence[str], fn: Callable[[], T]) -> T:
        with self.seats.scanning(pairs):
            with self._lock:
                self.request_scans += 1
            t = time.monotonic()
            result = fn()
            took = time.monotonic() - t
        with self._lock:
            for p in pairs:
                self._list_took[p] = took
        return result

    def lease_list(self, name: str, *, subnet: str | None = None, state: str | None = None,
                   hostname: str | None = None, after: str | None = None,
                   limit: int | None = None) -> LeaseList:
        """A page of ``name``'s lease list, scanned now at ``pool_rate`` (the peers'
        budget), shared with an identical request under way; Busy beyond the bounds."""
        pair = self.pairs[name]
        key = "\0".join(str(x) for x in (name, subnet, state, hostname and hostname.lower(),
                                          after, limit))
        with self.seats.seat():
            return self.lists.run(key, lambda: self._timed_scan([name], lambda: pair.leases(
                subnet, state, hostname, after=after, limit=limit, rate=self.pool_rate)),
                min_age=0.0, wait=None)

    def find(self, query: str) -> LeaseSearch:
        """Where ``query`` has leases across every pair (:func:`omapifo.find_leases`). An
        IP address is one lookup per peer and goes straight through; anything else may
        scan every pair, so it takes a seat and a slot of every pair, shared with an
        identical search under way."""
        pairs = list(self.pairs.values())
        text = query.strip()
        try:
            parse_ip(text)
        except ValueError:
            pass
        else:
            return find_leases(pairs, text, rate=self.pool_rate)
        with self.seats.seat():
            return self.searches.run(text, lambda: self._timed_scan(
                list(self.pairs), lambda: find_leases(pairs, text, rate=self.pool_rate)),
                min_age=0.0, wait=None)

    def _scan_job(self, name: str) -> None:
        if self._stopping:
            return  # queued behind other scans: stop() would otherwise wait for each one
        config = self.pairs[name].config
        if config.dhcpd_conf is None or not config.pool_scans:
            return  # no configuration to know the pools from, or switched off; GET says so
        try:
            self.scans.run(name, lambda: self.scan(name), min_age=0.0, wait=None)
        except ConfigError as exc:
            log.error("pool scan of %s: %s", name, exc)
        except Exception:  # noqa: BLE001 - a scan must never kill the scheduler thread
            log.exception("pool scan of %s failed", name)

    def last_pools(self, name: str) -> PoolReport | None:
        """The last scan's report, or None: never scans (the status page must not)."""
        with self._lock:
            return self._pools.get(name)

    def cached(self, name: str) -> Snapshot | None:
        with self._lock:
            return self._cache.get(name)

    def get(self, name: str, fresh: bool = False) -> Snapshot:
        """The cached snapshot; ``fresh`` (or none yet): a shared read (:meth:`read`)."""
        snap = None if fresh else self.cached(name)
        return snap or self.read(name)

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    def start(self) -> None:
        if self.running:
            return
        self._stopping = False
        # Polls get a thread per pair, so every pair is polled within its interval even
        # when every peer times out; scans have executor threads of their own. Measured
        # before: with 20 pairs scanning at start-up, 10 pairs went unpolled while the
        # scans held APScheduler's one shared 10-thread executor.
        n = max(1, len(self.pairs))
        sched = BackgroundScheduler(daemon=True, timezone=timezone.utc, executors={
            "default": ThreadPoolExecutor(n),
            "scans": ThreadPoolExecutor(min(n, SCAN_THREADS))})
        now = datetime.now(timezone.utc)
        for i, name in enumerate(self.pairs):
            sched.add_job(self._job, "interval", seconds=self.interval, args=[name], id=name,
                          max_instances=1, coalesce=True, next_run_time=now,
                          misfire_grace_time=max(1, int(self.interval)))
            # staggered over the interval: scans of many pairs never all start at once
            sched.add_job(self._scan_job, "interval", seconds=self.pool_interval, args=[name],
                          id=f"{name}/pools", max_instances=1, coalesce=True,
                          executor="scans",
                          next_run_time=now + timedelta(seconds=i * self.pool_interval / n),
                          misfire_grace_time=max(1, int(self.pool_interval)))
        sched.start()
        self._scheduler = sched

    def stop(self) -> None:
        self._stopping = True
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=True)
        self._scheduler = None
